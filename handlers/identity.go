package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

// userJSON is a user as the API shows it (never the password hash).
type userJSON struct {
	ID            string           `json:"id"`
	Email         string           `json:"email"`
	Name          string           `json:"name"`
	EmailVerified bool             `json:"email_verified"`
	StaffRoles    []string         `json:"staff_roles"`
	Memberships   []membershipJSON `json:"memberships"`
	CreatedAt     time.Time        `json:"created_at"`
}

// membershipJSON is a user's place on a license.
type membershipJSON struct {
	LicenseNumber string   `json:"license_number"`
	Roles         []string `json:"roles"`
}

func toUserJSON(u *models.User) userJSON {
	return userJSON{
		ID: strconv.FormatInt(u.ID, 10), Email: u.Email, Name: u.Name, EmailVerified: u.Verified(),
		StaffRoles: u.Roles(), Memberships: []membershipJSON{}, CreatedAt: u.CreatedAt.UTC(),
	}
}

type signupRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// acknowledgement is the answer of requests whose outcome must not be told (signup, forgot): the
// same whether or not the address has an account.
type acknowledgement struct {
	Status string `json:"status"`
}

// accepted answers 202 with the acknowledgement "accepted"; or the problem of err, when the call
// failed (never for an address with no account).
func accepted(c *gin.Context, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, acknowledgement{Status: "accepted"})
}

func (h *api) signup(c *gin.Context, req signupRequest) {
	if err := h.identity.Signup(c.Request.Context(), models.SignupInput{Email: req.Email, Password: req.Password, Name: req.Name}); err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusCreated, acknowledgement{Status: "pending_verification"})
}

type tokenRequest struct {
	Token string `json:"token"`
}

func (h *api) verify(c *gin.Context, req tokenRequest) {
	u, err := h.identity.Verify(c.Request.Context(), req.Token, actor(c))
	respond(c, http.StatusOK, u, err, toUserJSON)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (h *api) login(c *gin.Context, req loginRequest) {
	res, err := h.identity.Login(c.Request.Context(), req.Email, req.Password, c.ClientIP(), c.GetHeader("User-Agent"))
	if err != nil {
		fail(c, err)
		return
	}
	if res.MFA != nil {
		mfaRequired(c, res.MFA)
		return
	}
	writeJSON(c, http.StatusOK, toLoginResponse(res))
}

// toLoginResponse is the bearer token of a finished sign-in.
func toLoginResponse(res *models.LoginResult) loginResponse {
	return loginResponse{AccessToken: res.Token, TokenType: "Bearer", ExpiresIn: int64(res.ExpiresIn.Seconds())}
}

func (h *api) logout(c *gin.Context) {
	noContent(c, h.identity.Logout(c.Request.Context(), principal(c)))
}

type forgotRequest struct {
	Email string `json:"email"`
}

func (h *api) forgotPassword(c *gin.Context, req forgotRequest) {
	accepted(c, h.identity.ForgotPassword(c.Request.Context(), req.Email))
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (h *api) resetPassword(c *gin.Context, req resetRequest) {
	u, err := h.identity.ResetPassword(c.Request.Context(), req.Token, req.Password, actor(c))
	respond(c, http.StatusOK, u, err, toUserJSON)
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (h *api) changePassword(c *gin.Context, req changePasswordRequest) {
	u, err := h.identity.ChangePassword(c.Request.Context(), principal(c), req.CurrentPassword, req.NewPassword, actor(c))
	respond(c, http.StatusOK, u, err, toUserJSON)
}

func (h *api) me(c *gin.Context) {
	u, err := h.identity.User(c.Request.Context(), principal(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	ms, err := h.store.Memberships(c.Request.Context(), u.ID)
	if err != nil {
		fail(c, err)
		return
	}
	out := toUserJSON(u)
	for _, m := range ms {
		out.Memberships = append(out.Memberships, membershipJSON{LicenseNumber: m.LicenseNumber, Roles: m.Roles})
	}
	writeJSON(c, http.StatusOK, out)
}

// page reads ?limit= and ?cursor=, answering a bad one itself.
func page(c *gin.Context) (models.Page, bool) {
	p, err := models.ParsePage(c.Query("limit"), c.Query("cursor"))
	if err != nil {
		fail(c, err)
		return p, false
	}
	return p, true
}

// listJSON is a page of a list.
type listJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func (l listJSON[T]) next() string {
	if l.NextCursor == nil {
		return ""
	}
	return *l.NextCursor
}

func list[T any](items []T, next string) listJSON[T] {
	l := listJSON[T]{Items: items}
	if l.Items == nil {
		l.Items = []T{}
	}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// wholeList converts a list that comes whole (one page, no next) item by item, by to.
func wholeList[T, J any](to func(*T) J) func([]T) listJSON[J] {
	return func(items []T) listJSON[J] { return list(mapSlice(items, to), "") }
}

// listPage answers the page of a list that the query asks for (page): the items find answers on
// it, each converted by to, and the link to the next page.
func listPage[T, J any](c *gin.Context, find func(models.Page) ([]T, string, error), to func(*T) J) {
	pg, ok := page(c)
	if !ok {
		return
	}
	items, next, err := find(pg)
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, list(mapSlice(items, to), next))
}

func mapSlice[A, B any](in []A, f func(*A) B) []B {
	out := make([]B, 0, len(in))
	for i := range in {
		out = append(out, f(&in[i]))
	}
	return out
}

func (h *api) findUsers(c *gin.Context) {
	p, ok := page(c)
	if !ok {
		return
	}
	users, next, err := h.identity.FindUsers(c.Request.Context(), c.Query("email"), p)
	if err != nil {
		fail(c, err)
		return
	}
	out := mapSlice(users, toUserJSON)
	for i := range users {
		ms, err := h.store.Memberships(c.Request.Context(), users[i].ID)
		if err != nil {
			fail(c, err)
			return
		}
		for _, m := range ms {
			out[i].Memberships = append(out[i].Memberships, membershipJSON{LicenseNumber: m.LicenseNumber, Roles: m.Roles})
		}
	}
	writeJSON(c, http.StatusOK, list(out, next))
}
