package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

type noticeJSON struct {
	OffsetDays int         `json:"offset_days"` // -1: the lapse notice
	EndsOn     models.Date `json:"ends_on"`     // the end the notice was about
	SentAt     time.Time   `json:"sent_at"`
}

type termJSON struct {
	Seq      int            `json:"seq"`
	Kind     string         `json:"kind"`
	StartsOn models.Date    `json:"starts_on"`
	EndsOn   models.Date    `json:"ends_on"`
	Program  string         `json:"program"`
	Premier  bool           `json:"premier"`
	Actor    auditActorJSON `json:"actor"`
	Reason   string         `json:"reason,omitempty"`
	At       time.Time      `json:"at"`
}

// contractJSON is a contract as renewal staff see it (contract: "Shapes").
type contractJSON struct {
	ID            string         `json:"id"`
	LicenseNumber string         `json:"license_number"`
	AccountID     string         `json:"account_id"`
	AccountName   string         `json:"account_name"`
	Contact       contactJSON    `json:"contact"`
	Product       productRefJSON `json:"product"`
	Program       string         `json:"program"`
	Premier       bool           `json:"premier"`
	Trial         bool           `json:"trial"`
	StartsOn      models.Date    `json:"starts_on"`
	EndsOn        models.Date    `json:"ends_on"`
	Status        string         `json:"status"`
	DaysLeft      *int           `json:"days_left"`
	GraceUntil    *models.Date   `json:"grace_until,omitempty"`
	TerminatedOn  *models.Date   `json:"terminated_on,omitempty"`
	NoticesSent   []noticeJSON   `json:"notices_sent"`
	Terms         []termJSON     `json:"terms"`
	Renewal       *renewalJSON   `json:"renewal"` // pipeline.go
}

func datePtr(d models.Date) *models.Date {
	if d.IsZero() {
		return nil
	}
	return &d
}

func toContractJSON(v *models.ContractView, today models.Date, window int) contractJSON {
	status, days := v.Status(today, window)
	c := v.Contract
	out := contractJSON{
		ID: itoa64(c.ID), LicenseNumber: v.License.LicenseNumber, AccountID: v.Account.AccountID, AccountName: v.Account.Name,
		Contact: contactJSON{Name: v.Account.ContactName, Email: v.Account.ContactEmail}, Product: productRefJSON{SKU: v.Product.SKU, Name: v.Product.Name},
		Program: c.Program, Premier: c.Premier, Trial: c.Trial, StartsOn: c.StartsOn, EndsOn: c.EndsOn, Status: status,
		GraceUntil: datePtr(c.GraceUntil), TerminatedOn: datePtr(c.TerminatedOn), NoticesSent: []noticeJSON{}, Terms: []termJSON{},
	}
	if !c.EndsOn.IsZero() {
		out.DaysLeft = &days
	}
	for _, n := range v.Notices {
		out.NoticesSent = append(out.NoticesSent, noticeJSON{OffsetDays: n.OffsetDays, EndsOn: n.EndsOn, SentAt: n.SentAt.UTC()})
	}
	for _, t := range v.Terms {
		tj := termJSON{Seq: t.Seq, Kind: t.Kind, StartsOn: t.StartsOn, EndsOn: t.EndsOn, Program: t.Program, Premier: t.Premier,
			Reason: t.Reason, At: t.CreatedAt.UTC(), Actor: auditActorJSON{Kind: t.ActorKind, Email: t.ActorEmail}}
		if t.ActorID != nil {
			id := itoa64(*t.ActorID)
			tj.Actor.ID = &id
		}
		out.Terms = append(out.Terms, tj)
	}
	out.Renewal = toRenewalJSON(v, today, window)
	return out
}

// toContractsJSON is contracts as every contract answer shows them, on today.
func (h *api) toContractsJSON(views []models.ContractView, today models.Date) []contractJSON {
	out := make([]contractJSON, 0, len(views))
	for i := range views {
		out = append(out, toContractJSON(&views[i], today, h.contracts.RenewalWindowDays))
	}
	return out
}

func (h *api) contractAnswer(c *gin.Context, v *models.ContractView, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, toContractJSON(v, h.contracts.Today(), h.contracts.RenewalWindowDays))
}

type renewalRequest struct {
	EndsOn  string `json:"ends_on"`
	Program string `json:"program"`
	Premier *bool  `json:"premier"`
}

func (h *api) renewContract(c *gin.Context, req renewalRequest) {
	v, err := h.contracts.Renew(c.Request.Context(), c.Param("id"), models.RenewalInput(req), actor(c))
	h.contractAnswer(c, v, err)
}

type upgradeRequest struct {
	Program string `json:"program"`
	Premier *bool  `json:"premier"`
}

func (h *api) upgradeContract(c *gin.Context, req upgradeRequest) {
	v, err := h.contracts.Upgrade(c.Request.Context(), c.Param("id"), models.UpgradeInput(req), actor(c))
	h.contractAnswer(c, v, err)
}

type terminateRequest struct {
	Reason string `json:"reason"`
}

func (h *api) terminateContract(c *gin.Context, req terminateRequest) {
	v, err := h.contracts.Terminate(c.Request.Context(), c.Param("id"), req.Reason, actor(c))
	h.contractAnswer(c, v, err)
}

type graceRequest struct {
	Until  string `json:"until"`
	Reason string `json:"reason"`
}

func (h *api) graceContract(c *gin.Context, req graceRequest) {
	v, err := h.contracts.Grace(c.Request.Context(), c.Param("id"), req.Until, req.Reason, actor(c))
	h.contractAnswer(c, v, err)
}

type entitlementJSON struct {
	Name    string `json:"name"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

// supportJSON is GET /v1/licenses/{ln}/support.
type supportJSON struct {
	LicenseNumber string  `json:"license_number"`
	ContractID    *string `json:"contract_id"`
	// status, program, premier, starts_on, ends_on, days_left: as a license shows its support
	supportSummaryJSON

	GraceUntil      *models.Date      `json:"grace_until,omitempty"`
	TerminatedOn    *models.Date      `json:"terminated_on,omitempty"`
	TrialEndsOn     *models.Date      `json:"trial_ends_on,omitempty"`
	Hours           *string           `json:"hours"`
	ResponseTargets map[string]string `json:"response_targets"`
	AroundTheClock  []string          `json:"around_the_clock_severities,omitempty"`
	Version         *string           `json:"version"`
	Entitlements    []entitlementJSON `json:"entitlements"`
}

func (h *api) licenseSupport(c *gin.Context) {
	v, err := h.licenses.Support(c.Request.Context(), principal(c), c.Param("ln"), c.Query("version"))
	if err != nil {
		fail(c, err)
		return
	}
	out := supportJSON{LicenseNumber: v.LicenseNumber, supportSummaryJSON: toSupportSummaryJSON(v.Summary, v.ContractID != 0),
		GraceUntil: datePtr(v.GraceUntil), TerminatedOn: datePtr(v.TerminatedOn), TrialEndsOn: datePtr(v.TrialEndsOn),
		ResponseTargets: v.Targets.BySeverity, AroundTheClock: v.Targets.AroundTheClock}
	if v.ContractID != 0 {
		id := itoa64(v.ContractID)
		out.ContractID = &id
		if v.Targets.Hours != "" {
			out.Hours = &v.Targets.Hours
		}
	}
	if v.Version != nil {
		out.Version = &v.Version.Version
	}
	for _, e := range v.Entitlements {
		out.Entitlements = append(out.Entitlements, entitlementJSON(e))
	}
	writeJSON(c, http.StatusOK, out)
}

type checkJSON struct {
	Allowed       bool   `json:"allowed"`
	Reason        string `json:"reason,omitempty"`
	Entitlement   string `json:"entitlement"`
	LicenseNumber string `json:"license_number"`
	Version       string `json:"version,omitempty"`
	Status        string `json:"status,omitempty"`
}

func (h *api) checkEntitlement(c *gin.Context) {
	in := models.CheckInput{LicenseNumber: c.Query("license_number"), Entitlement: c.Query("entitlement"), Version: c.Query("version"), User: c.Query("user")}
	res, err := h.licenses.Check(c.Request.Context(), principal(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	ln, _ := models.ParseLicenseNumber(in.LicenseNumber)
	writeJSON(c, http.StatusOK, checkJSON{Allowed: res.Allowed, Reason: res.Reason, Entitlement: in.Entitlement, LicenseNumber: ln, Version: res.Version, Status: res.Status})
}
