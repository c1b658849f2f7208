package handlers

// The renewal desk's lists: GET /v1/contracts (staff renewals) and GET /v1/renewals (staff
// renewals, key renewals:read), the latter also as a CSV spreadsheet streamed row by row.

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// csvHeader is the contract shape's names, nested ones flattened (contract: "Shapes").
var csvHeader = []string{
	"id", "license_number", "account_id", "account_name", "contact_name", "contact_email", "product_sku", "product_name",
	"program", "premier", "trial", "starts_on", "ends_on", "status", "days_left", "grace_until", "terminated_on",
	"notices_sent", "terms",
	"renewal_owner", "renewal_stage", "renewal_next_step_on", "renewal_value_amount", "renewal_value_currency",
}

// csvFlushRows is how many rows are written between flushes to the client: often enough that a
// spreadsheet download starts at once and the server holds almost nothing, seldom enough that
// flushing costs nothing.
const csvFlushRows = 200

// exportWriteTimeout replaces the server's WriteTimeout for a CSV export, which streams for as
// long as the rows take.
const exportWriteTimeout = 15 * time.Minute

// validationOf merges the validation errors of several parsers into one answer that names
// every bad parameter; any other error is returned first.
func validationOf(errs ...error) error {
	var v models.Validation
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *models.Error
		if !errors.As(err, &e) || e.Code != models.CodeValidation {
			return err
		}
		v.Fields = append(v.Fields, e.Fields...)
	}
	return v.Err()
}

// contractPage answers the page of contracts that find reads for the query's ?limit= and
// ?cursor=, each in the shape of every contract answer. The query's other problems (errs) and the
// page's are answered together, in one validation problem.
func (h *api) contractPage(c *gin.Context, find func(store.ContractPage) (*models.ContractList, error), errs ...error) {
	p, perr := store.ParseContractPage(c.Query("limit"), c.Query("cursor"))
	if err := validationOf(append(errs, perr)...); err != nil {
		fail(c, err)
		return
	}
	page, err := find(p)
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, list(h.toContractsJSON(page.Items, page.Today), page.Next))
}

// listContracts is GET /v1/contracts?status=&program=&expiring_within_days=&account_id=&q=&owner=&stage=.
func (h *api) listContracts(c *gin.Context) {
	f, ferr := models.ParseContractFilter(c.Query("status"), c.Query("program"), c.Query("expiring_within_days"), c.Query("account_id"), c.Query("q"))
	perr := models.ParsePipelineFilter(&f, c.Query("owner"), c.Query("stage"), callerEmail(c))
	// ?format=csv: the same spreadsheet as /renewals', for the views a within list cannot show
	// (lapsed, terminated, grace, future).
	h.listOrExportContracts(c, f, ferr, perr)
}

// listOrExportContracts answers the contracts f selects as JSON a page at a time, or, with
// ?format=csv or Accept: text/csv, every row as a spreadsheet. errs are the query's errors; a
// format other than json or csv is one more.
func (h *api) listOrExportContracts(c *gin.Context, f models.ContractFilter, errs ...error) {
	format := strings.ToLower(c.Query("format"))
	if format != "" && format != "json" && format != "csv" {
		var v models.Validation
		v.Add("format", models.FieldInvalid, "must be json or csv")
		errs = append(errs, v.Err())
	}
	if format == "csv" || (format == "" && c.NegotiateFormat(gin.MIMEJSON, "text/csv") == "text/csv") {
		if err := validationOf(errs...); err != nil {
			fail(c, err)
			return
		}
		h.exportContracts(c, f)
		return
	}
	h.contractPage(c, func(p store.ContractPage) (*models.ContractList, error) {
		return h.contracts.List(c.Request.Context(), f, p)
	}, errs...)
}

// callerEmail is the signed-in user's email ("" for an API key): what owner=me names.
func callerEmail(c *gin.Context) string {
	if p := principal(c); p.IsUser() {
		return p.Email
	}
	return ""
}

// listRenewals is GET /v1/renewals?within_days=N: JSON a page at a time, or with Accept: text/csv
// or ?format=csv every row as a spreadsheet.
//
// It takes the list filters of GET /v1/contracts too (program, account_id, q, owner, stage), and
// the CSV follows every one of them: the spreadsheet is the list on screen.
func (h *api) listRenewals(c *gin.Context) {
	within, werr := models.ParseWithinDays(c.Query("within_days"), h.contracts.RenewalWindowDays)
	f, lerr := models.ParseContractFilter("", c.Query("program"), "", c.Query("account_id"), c.Query("q"))
	perr := models.ParsePipelineFilter(&f, c.Query("owner"), c.Query("stage"), callerEmail(c))
	f.Within, f.HasWithin = within, true
	h.listOrExportContracts(c, f, werr, lerr, perr)
}

// exportContracts streams the CSV of the contracts a list filter selects: the header, then one
// record per contract as the database cursor yields it, flushed every csvFlushRows. Nothing is
// written before the first row has been read, so a database that cannot be reached is still a
// 503 problem; an error after that cuts the connection, so that the client sees a broken
// download rather than a short file.
func (h *api) exportContracts(c *gin.Context, f models.ContractFilter) {
	ctx := c.Request.Context()
	filename := fmt.Sprintf("renewals-%s-within-%d-days.csv", h.contracts.Today(), f.Within)
	if !f.HasWithin {
		filename = fmt.Sprintf("contracts-%s.csv", h.contracts.Today())
	}
	w := csv.NewWriter(c.Writer)
	w.UseCRLF = true // RFC 4180
	started := false
	start := func() error {
		started = true
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(exportWriteTimeout))
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="`+filename+`"`)
		c.Status(http.StatusOK)
		return w.Write(csvHeader)
	}
	rows := 0
	record := make([]string, len(csvHeader))
	_, err := h.contracts.ExportContracts(ctx, f, func(r *models.ExportRow) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		csvRecord(record, r)
		if err := w.Write(record); err != nil {
			return err
		}
		if rows++; rows%csvFlushRows == 0 {
			w.Flush()
			if err := w.Error(); err != nil {
				return err
			}
			c.Writer.Flush()
		}
		return nil
	})
	if err == nil && !started {
		err = start()
	}
	if err == nil {
		w.Flush()
		err = w.Error()
	}
	switch {
	case err == nil:
		c.Writer.Flush()
	case !started:
		fail(c, err)
	default:
		logger(c).Warn("renewals export cut short", "request_id", requestID(c), "rows", rows, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// csvRecord fills record with a contract's fields in csvHeader's order.
func csvRecord(record []string, r *models.ExportRow) {
	v := &r.View
	k := &v.Contract
	days := ""
	if !k.EndsOn.IsZero() {
		days = strconv.Itoa(r.DaysLeft)
	}
	copy(record, []string{
		itoa64(k.ID), v.License.LicenseNumber, v.Account.AccountID, cell(v.Account.Name), cell(v.Account.ContactName), cell(v.Account.ContactEmail),
		v.Product.SKU, cell(v.Product.Name), k.Program, strconv.FormatBool(k.Premier), strconv.FormatBool(k.Trial),
		k.StartsOn.String(), k.EndsOn.String(), r.Status, days, k.GraceUntil.String(), k.TerminatedOn.String(),
		r.Notices, r.Terms,
	})
	owner, next, amount, currency := "", "", "", ""
	if rec := v.Renewal; rec != nil {
		owner, next = rec.OwnerEmail, rec.NextStepOn.String()
		if m := rec.Value(); m != nil {
			amount, currency = m.Amount(), m.Currency
		}
	}
	copy(record[len(csvHeader)-5:], []string{cell(owner), r.RenewalStage, next, amount, currency})
}

// cell guards free text (names and addresses from orders) against spreadsheet formula
// injection: a value that a spreadsheet would run as a formula is written with a leading
// apostrophe, which spreadsheets show as text (OWASP's advice for CSV exports).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
