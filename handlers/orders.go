package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

// flexString accepts a JSON string or a whole number: an Account ID may come either way.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
		return &json.UnmarshalTypeError{Value: "number " + n.String(), Type: typeOfString}
	}
	*f = flexString(n.String())
	return nil
}

type contactJSON struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type supportRequest struct {
	Program  string             `json:"program"`
	Premier  *bool              `json:"premier"`
	StartsOn string             `json:"starts_on"`
	EndsOn   string             `json:"ends_on"`
	Value    *models.MoneyInput `json:"value"`
}

type orderItemRequest struct {
	SKU           string          `json:"sku"`
	Quantity      *int            `json:"quantity"`
	Kind          string          `json:"kind"`
	ServiceTag    string          `json:"service_tag"`
	LicenseNumber string          `json:"license_number"`
	AddQuantity   *int            `json:"add_quantity"`
	Support       *supportRequest `json:"support"`
}

type orderRequest struct {
	OrderRef string `json:"order_ref"`
	Account  *struct {
		AccountID flexString `json:"account_id"`
		Name      string     `json:"name"`
	} `json:"account"`
	PrimaryContact *contactJSON       `json:"primary_contact"`
	Items          []orderItemRequest `json:"items"`
}

func (r *orderRequest) input() models.OrderInput {
	in := models.OrderInput{OrderRef: r.OrderRef}
	if r.Account != nil {
		in.AccountID, in.AccountName = string(r.Account.AccountID), r.Account.Name
	}
	if r.PrimaryContact != nil {
		in.ContactName, in.ContactEmail = r.PrimaryContact.Name, r.PrimaryContact.Email
	}
	for _, it := range r.Items {
		item := models.OrderItem{SKU: it.SKU, Quantity: it.Quantity, Kind: it.Kind, ServiceTag: it.ServiceTag,
			LicenseNumber: it.LicenseNumber, AddQuantity: it.AddQuantity}
		if s := it.Support; s != nil {
			item.Support = &models.SupportInput{Program: s.Program, Premier: s.Premier, StartsOn: s.StartsOn, EndsOn: s.EndsOn, Value: s.Value}
		}
		in.Items = append(in.Items, item)
	}
	return in
}

type accountJSON struct {
	AccountID      string      `json:"account_id"`
	Name           string      `json:"name"`
	PrimaryContact contactJSON `json:"primary_contact"`
	CreatedAt      time.Time   `json:"created_at"`
}

func toAccountJSON(a *models.Account) accountJSON {
	return accountJSON{AccountID: a.AccountID, Name: a.Name, PrimaryContact: contactJSON{Name: a.ContactName, Email: a.ContactEmail}, CreatedAt: a.CreatedAt.UTC()}
}

type orderResponse struct {
	OrderRef  string        `json:"order_ref"`
	AccountID string        `json:"account_id"`
	Account   accountJSON   `json:"account"`
	Licenses  []licenseJSON `json:"licenses"`
}

func (h *api) placeOrder(c *gin.Context, req orderRequest) {
	res, err := h.orders.Place(c.Request.Context(), req.input(), actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	today := h.licenses.Today()
	out := orderResponse{OrderRef: res.OrderRef, AccountID: res.Account.AccountID, Account: toAccountJSON(&res.Account), Licenses: []licenseJSON{}}
	for i := range res.Licenses {
		out.Licenses = append(out.Licenses, h.toLicenseJSON(&res.Licenses[i], today, nil))
	}
	writeJSON(c, http.StatusCreated, out)
}

type accountPatchRequest struct {
	Name           *string `json:"name"`
	PrimaryContact *struct {
		Name  *string `json:"name"`
		Email *string `json:"email"`
	} `json:"primary_contact"`
}

func (h *api) updateAccount(c *gin.Context, req accountPatchRequest) {
	patch := models.AccountPatch{Name: req.Name, IfMatch: c.GetHeader("If-Match")}
	if pc := req.PrimaryContact; pc != nil {
		patch.ContactName, patch.ContactEmail = pc.Name, pc.Email
	}
	a, err := h.accounts.Update(c.Request.Context(), c.Param("account_id"), patch, actor(c))
	respondTagged(c, http.StatusOK, a, err, toAccountJSON)
}

func (h *api) recoverAccount(c *gin.Context, req forgotRequest) {
	accepted(c, h.accounts.Recover(c.Request.Context(), req.Email))
}
