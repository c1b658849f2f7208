package handlers

// The renewal pipeline (contract: "Renewal pipeline"): a contract's own page with its renewal
// record and notes, changes to the record (one contract, or several at once), and notes.

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

type moneyJSON struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// renewalJSON is a contract's renewal record: renewal{owner?, stage, next_step_on?, value?, updated_at}.
type renewalJSON struct {
	Owner      *string      `json:"owner,omitempty"`
	Stage      string       `json:"stage"`
	NextStepOn *models.Date `json:"next_step_on,omitempty"`
	Value      *moneyJSON   `json:"value,omitempty"`
	UpdatedAt  *time.Time   `json:"updated_at"`
}

func toRenewalJSON(v *models.ContractView, today models.Date, window int) *renewalJSON {
	r := v.Renewal
	out := &renewalJSON{Stage: models.EffectiveStage(r, &v.Contract, today, window)}
	if r == nil {
		return out
	}
	if r.OwnerEmail != "" {
		owner := r.OwnerEmail
		out.Owner = &owner
	}
	out.NextStepOn = datePtr(r.NextStepOn)
	if m := r.Value(); m != nil {
		out.Value = &moneyJSON{Amount: m.Amount(), Currency: m.Currency}
	}
	if !r.UpdatedAt.IsZero() {
		at := r.UpdatedAt.UTC()
		out.UpdatedAt = &at
	}
	return out
}

type noteJSON struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

func toNoteJSON(n *models.ContractNote) noteJSON {
	return noteJSON{ID: itoa64(n.ID), At: n.CreatedAt.UTC(), Author: n.AuthorEmail, Text: n.Text}
}

// contractDetailJSON is GET /contracts/{id}: the contract with its notes, oldest first.
type contractDetailJSON struct {
	contractJSON
	Notes []noteJSON `json:"notes"`
}

// contractDetail answers a contract with its notes and its ETag.
func (h *api) contractDetail(c *gin.Context, v *models.ContractView, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	today := h.contracts.Today()
	out := contractDetailJSON{contractJSON: toContractJSON(v, today, h.contracts.RenewalWindowDays), Notes: []noteJSON{}}
	for i := range v.Notes {
		out.Notes = append(out.Notes, toNoteJSON(&v.Notes[i]))
	}
	c.Header("ETag", models.ContractETag(v, today))
	writeJSON(c, http.StatusOK, out)
}

// getContract is GET /v1/contracts/{id}.
func (h *api) getContract(c *gin.Context) {
	v, err := h.contracts.Detail(c.Request.Context(), c.Param("id"))
	h.contractDetail(c, v, err)
}

// patchRenewal is PATCH /v1/contracts/{id}/renewal: {owner?, stage?, next_step_on?, value?},
// null clearing a field; If-Match honoured.
func (h *api) patchRenewal(c *gin.Context, body map[string]json.RawMessage) {
	p, err := models.ParseRenewalPatch(body, "", false)
	if err != nil {
		fail(c, err)
		return
	}
	v, err := h.contracts.PatchRenewal(c.Request.Context(), c.Param("id"), p, c.GetHeader("If-Match"), actor(c))
	h.contractDetail(c, v, err)
}

type noteRequest struct {
	Text string `json:"text"`
}

// addNote is POST /v1/contracts/{id}/notes.
func (h *api) addNote(c *gin.Context, req noteRequest) {
	n, err := h.contracts.AddNote(c.Request.Context(), c.Param("id"), req.Text, actor(c))
	respond(c, http.StatusCreated, n, err, toNoteJSON)
}

type bulkRequest struct {
	IDs []json.RawMessage          `json:"ids"`
	Set map[string]json.RawMessage `json:"set"`
}

// bulkRenewal is POST /v1/contracts/bulk: {ids, set:{owner?, stage?, next_step_on?}} → {updated};
// all or nothing.
func (h *api) bulkRenewal(c *gin.Context, req bulkRequest) {
	var v models.Validation
	ids := make([]string, len(req.IDs))
	for i, raw := range req.IDs {
		// An id is a string in answers; a number is taken too, as Account IDs are.
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = strings.TrimSpace(string(raw))
		}
		ids[i] = s
	}
	if req.Set == nil {
		v.Add("set", models.FieldRequired, "name what to set: owner, stage, next_step_on")
	}
	p, perr := models.ParseRenewalPatch(req.Set, "set.", true)
	if req.Set == nil {
		perr = nil
	}
	if err := validationOf(v.Err(), perr); err != nil {
		fail(c, err)
		return
	}
	n, err := h.contracts.BulkRenewal(c.Request.Context(), ids, p, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, gin.H{"updated": n})
}

type forecastValueJSON struct {
	Currency string            `json:"currency"`
	Amount   string            `json:"amount"`
	ByStage  map[string]string `json:"by_stage"`
}

type forecastMonthJSON struct {
	Month   string              `json:"month"`
	Due     int                 `json:"due"`
	ByStage map[string]int      `json:"by_stage"`
	Value   []forecastValueJSON `json:"value"`
}

type historyMonthJSON struct {
	Month   string   `json:"month"`
	Due     int      `json:"due"`
	Renewed int      `json:"renewed"`
	Lapsed  int      `json:"lapsed"`
	Rate    *float64 `json:"rate"`
}

type forecastJSON struct {
	Today   models.Date         `json:"today"`
	Months  []forecastMonthJSON `json:"months"`
	History []historyMonthJSON  `json:"history"`
}

// renewalForecast is GET /v1/renewals/forecast?months=12.
func (h *api) renewalForecast(c *gin.Context) {
	months, err := models.ParseForecastMonths(c.Query("months"))
	if err != nil {
		fail(c, err)
		return
	}
	f, err := h.contracts.Forecast(c.Request.Context(), months)
	if err != nil {
		fail(c, err)
		return
	}
	out := forecastJSON{Today: f.Today, Months: []forecastMonthJSON{}, History: []historyMonthJSON{}}
	for _, m := range f.Months {
		mj := forecastMonthJSON{Month: m.Month, Due: m.Due, ByStage: m.ByStage, Value: []forecastValueJSON{}}
		for _, v := range m.Values {
			vj := forecastValueJSON{Currency: v.Currency, Amount: models.Money{Minor: v.Minor}.Amount(), ByStage: map[string]string{}}
			for s, n := range v.ByStage {
				vj.ByStage[s] = models.Money{Minor: n}.Amount()
			}
			mj.Value = append(mj.Value, vj)
		}
		out.Months = append(out.Months, mj)
	}
	for _, hm := range f.History {
		out.History = append(out.History, historyMonthJSON(hm))
	}
	writeJSON(c, http.StatusOK, out)
}

type accountLicenseJSON struct {
	LicenseNumber string         `json:"license_number"`
	Product       productRefJSON `json:"product"`
	Quantity      int            `json:"quantity"`
	Kind          string         `json:"kind"`
	ServiceTag    *string        `json:"service_tag,omitempty"`
	Contract      *contractJSON  `json:"contract"`
}

// accountViewJSON is GET /accounts/{account_id}: the account, its primary contact, and every
// license with its contract (null without support).
type accountViewJSON struct {
	AccountID      string               `json:"account_id"`
	Name           string               `json:"name"`
	PrimaryContact contactJSON          `json:"primary_contact"`
	Licenses       []accountLicenseJSON `json:"licenses"`
}

// getAccount is GET /v1/accounts/{account_id}.
func (h *api) getAccount(c *gin.Context) {
	v, err := h.contracts.Account(c.Request.Context(), c.Param("account_id"))
	if err != nil {
		fail(c, err)
		return
	}
	today := h.contracts.Today()
	out := accountViewJSON{AccountID: v.Account.AccountID, Name: v.Account.Name,
		PrimaryContact: contactJSON{Name: v.Account.ContactName, Email: v.Account.ContactEmail}, Licenses: []accountLicenseJSON{}}
	for _, l := range v.Licenses {
		lj := accountLicenseJSON{LicenseNumber: l.License.LicenseNumber, Product: productRefJSON{SKU: l.Product.SKU, Name: l.Product.Name},
			Quantity: l.License.Quantity, Kind: l.License.Kind, ServiceTag: l.License.ServiceTag}
		if l.Contract != nil {
			cj := toContractJSON(l.Contract, today, h.contracts.RenewalWindowDays)
			lj.Contract = &cj
		}
		out.Licenses = append(out.Licenses, lj)
	}
	// The account's own tag, which PATCH /accounts/{id} checks If-Match against: what a PATCH
	// changes (its licenses and contracts have their own, on /contracts/{id}).
	c.Header("ETag", v.Account.ETag())
	writeJSON(c, http.StatusOK, out)
}

type cotermRequest struct {
	EndsOn string `json:"ends_on"`
}

// cotermAccount is POST /v1/accounts/{account_id}/coterm: {ends_on} → {contracts:[…]}, the
// contracts it extended.
func (h *api) cotermAccount(c *gin.Context, req cotermRequest) {
	views, err := h.contracts.Coterm(c.Request.Context(), c.Param("account_id"), req.EndsOn, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, gin.H{"contracts": h.toContractsJSON(views, h.contracts.Today())})
}
