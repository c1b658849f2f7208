package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

type registrationRequest struct {
	LicenseNumber string     `json:"license_number"`
	ServiceTag    string     `json:"service_tag"`
	AccountID     flexString `json:"account_id"`
}

type registrationResponse struct {
	LicenseNumber string   `json:"license_number,omitempty"`
	Roles         []string `json:"roles,omitempty"`
	RequestID     string   `json:"request_id,omitempty"`
	Status        string   `json:"status"`
}

func (h *api) register(c *gin.Context, req registrationRequest) {
	res, err := h.registrations.Register(c.Request.Context(), principal(c),
		models.RegistrationInput{LicenseNumber: req.LicenseNumber, ServiceTag: req.ServiceTag, AccountID: string(req.AccountID)}, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	switch res.Outcome {
	case models.Registered:
		writeJSON(c, http.StatusCreated, registrationResponse{LicenseNumber: res.LicenseNumber, Roles: res.Roles, Status: "active"})
	case models.AlreadyMember:
		writeJSON(c, http.StatusOK, registrationResponse{LicenseNumber: res.LicenseNumber, Roles: res.Roles, Status: "active"})
	default:
		writeJSON(c, http.StatusAccepted, registrationResponse{LicenseNumber: res.LicenseNumber, RequestID: itoa64(res.RequestID), Status: "pending"})
	}
}

func (h *api) myLicenses(c *gin.Context) {
	pg, ok := page(c)
	if !ok {
		return
	}
	mine, next, err := h.registrations.MyLicenses(c.Request.Context(), principal(c), pg)
	if err != nil {
		fail(c, err)
		return
	}
	today := h.licenses.Today()
	out := make([]licenseJSON, 0, len(mine))
	for i := range mine {
		out = append(out, h.toLicenseJSON(&mine[i].Detail, today, mine[i].Roles))
	}
	writeJSON(c, http.StatusOK, list(out, next))
}

func (h *api) getLicense(c *gin.Context) {
	d, roles, err := h.registrations.LicenseFor(c.Request.Context(), principal(c), c.Param("ln"))
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, h.toLicenseJSON(d, h.licenses.Today(), roles))
}

type memberJSON struct {
	Email string    `json:"email"`
	Name  string    `json:"name"`
	Roles []string  `json:"roles"`
	Since time.Time `json:"since"`
}

func toMemberJSON(m *models.MemberView) memberJSON {
	return memberJSON{Email: m.Email, Name: m.Name, Roles: m.Roles, Since: m.Since.UTC()}
}

func (h *api) listMembers(c *gin.Context) {
	members, err := h.registrations.Members(c.Request.Context(), principal(c), c.Param("ln"))
	respond(c, http.StatusOK, members, err, wholeList(toMemberJSON))
}

type rolesRequest struct {
	Roles         []string `json:"roles"`
	HelpRequestID string   `json:"help_request_id"`
}

func (h *api) putMember(c *gin.Context, req rolesRequest) {
	res, err := h.registrations.PutMemberIfMatch(c.Request.Context(), principal(c), c.Param("ln"), c.Param("email"), req.Roles, req.HelpRequestID,
		c.GetHeader("If-Match"), actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	if res.Invited {
		writeJSON(c, http.StatusAccepted, acknowledgement{Status: "invited"})
		return
	}
	if ln, err := models.ParseLicenseNumber(c.Param("ln")); err == nil {
		c.Header("ETag", res.Member.ETag(ln))
	}
	writeJSON(c, http.StatusOK, toMemberJSON(res.Member))
}

func (h *api) removeMember(c *gin.Context) {
	noContent(c, h.registrations.RemoveMember(c.Request.Context(), principal(c), c.Param("ln"), c.Param("email"), actor(c)))
}

type joinRequestJSON struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	RequestedAt   time.Time  `json:"requested_at"`
	LicenseNumber string     `json:"license_number,omitempty"`
	AccountID     string     `json:"account_id,omitempty"`
	Status        string     `json:"status"`
	Roles         []string   `json:"roles,omitempty"`
	DecidedAt     *time.Time `json:"decided_at,omitempty"`
}

func toJoinRequestJSON(r *models.RequestView) joinRequestJSON {
	j := joinRequestJSON{ID: itoa64(r.Request.ID), Email: r.Email, Name: r.Name, RequestedAt: r.Request.CreatedAt.UTC(),
		LicenseNumber: r.LicenseNumber, AccountID: r.AccountID, Status: r.Request.Status, DecidedAt: r.Request.DecidedAt}
	if r.Request.Roles != "" {
		j.Roles = models.SplitRoles(r.Request.Roles)
	}
	return j
}

func (h *api) listRequests(c *gin.Context) {
	reqs, err := h.registrations.Requests(c.Request.Context(), principal(c), c.Param("ln"))
	respond(c, http.StatusOK, reqs, err, wholeList(toJoinRequestJSON))
}

func (h *api) approveRequest(c *gin.Context, req rolesRequest) {
	r, err := h.registrations.Decide(c.Request.Context(), principal(c), c.Param("ln"), c.Param("id"), true, req.Roles, actor(c))
	respond(c, http.StatusOK, r, err, toJoinRequestJSON)
}

func (h *api) rejectRequest(c *gin.Context) {
	r, err := h.registrations.Decide(c.Request.Context(), principal(c), c.Param("ln"), c.Param("id"), false, nil, actor(c))
	respond(c, http.StatusOK, r, err, toJoinRequestJSON)
}

func (h *api) withdrawRequest(c *gin.Context) {
	noContent(c, h.registrations.Withdraw(c.Request.Context(), principal(c), c.Param("id"), actor(c)))
}

func (h *api) licenseAudit(c *gin.Context) {
	listPage(c, func(pg models.Page) ([]models.AuditEntry, string, error) {
		return h.registrations.LicenseAudit(c.Request.Context(), principal(c), c.Param("ln"), pg)
	}, toAuditJSON)
}

type helpRequest struct {
	Name          string     `json:"name"`
	Email         string     `json:"email"`
	Company       string     `json:"company"`
	LicenseNumber string     `json:"license_number"`
	AccountID     flexString `json:"account_id"`
	Message       string     `json:"message"`
}

type helpJSON struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Email         string     `json:"email"`
	Company       string     `json:"company"`
	LicenseNumber *string    `json:"license_number,omitempty"`
	AccountID     *string    `json:"account_id,omitempty"`
	Message       string     `json:"message"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	Note          *string    `json:"note,omitempty"`
}

func toHelpJSON(r *models.HelpRequest) helpJSON {
	return helpJSON{ID: itoa64(r.ID), Name: r.Name, Email: r.Email, Company: r.Company, LicenseNumber: r.LicenseNumber, AccountID: r.AccountID,
		Message: r.Message, Status: r.Status, CreatedAt: r.CreatedAt.UTC(), ResolvedAt: r.ResolvedAt, Note: r.Note}
}

func (h *api) askHelp(c *gin.Context, req helpRequest) {
	r, err := h.help.Ask(c.Request.Context(), models.HelpInput{Name: req.Name, Email: req.Email, Company: req.Company,
		LicenseNumber: req.LicenseNumber, AccountID: string(req.AccountID), Message: req.Message}, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, gin.H{"id": itoa64(r.ID), "status": r.Status})
}

func (h *api) helpQueue(c *gin.Context) {
	listPage(c, func(pg models.Page) ([]models.HelpRequest, string, error) {
		return h.help.Queue(c.Request.Context(), c.Query("status"), pg)
	}, toHelpJSON)
}

type resolveRequest struct {
	Note string `json:"note"`
}

func (h *api) resolveHelp(c *gin.Context, req resolveRequest) {
	r, err := h.help.Resolve(c.Request.Context(), principal(c), c.Param("id"), req.Note, actor(c))
	respond(c, http.StatusOK, r, err, toHelpJSON)
}
