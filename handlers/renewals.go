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

// contractPage answers a page of contracts, each in the shape of every contract answer.
func (h *api) contractPage(c *gin.Context, page *models.ContractList) {
	items := make([]contractJSON, 0, len(page.Items))
	for i := range page.Items {
		items = append(items, toContractJSON(&page.Items[i], page.Today, h.contracts.RenewalWindowDays))
	}
	writeJSON(c, http.StatusOK, list(items, page.Next))
}

// listContracts is GET /v1/contracts?status=&program=&expiring_within_days=&account_id=&q=.
func (h *api) listContracts(c *gin.Context) {
	f, ferr := models.ParseContractFilter(c.Query("status"), c.Query("program"), c.Query("expiring_within_days"), c.Query("account_id"), c.Query("q"))
	p, perr := store.ParseContractPage(c.Query("limit"), c.Query("cursor"))
	if err := validationOf(ferr, perr); err != nil {
		fail(c, err)
		return
	}
	page, err := h.contracts.List(c.Request.Context(), f, p)
	if err != nil {
		fail(c, err)
		return
	}
	h.contractPage(c, page)
}

// listRenewals is GET /v1/renewals?within_days=N: JSON a page at a time, or with Accept: text/csv
// or ?format=csv every row as a spreadsheet.
func (h *api) listRenewals(c *gin.Context) {
	within, werr := models.ParseWithinDays(c.Query("within_days"), h.contracts.RenewalWindowDays)
	var ferr error
	format := strings.ToLower(c.Query("format"))
	switch format {
	case "", "json", "csv":
	default:
		var v models.Validation
		v.Add("format", models.FieldInvalid, "must be json or csv")
		ferr = v.Err()
	}
	if format == "" && c.NegotiateFormat(gin.MIMEJSON, "text/csv") == "text/csv" {
		format = "csv"
	}
	if format == "csv" {
		if err := validationOf(werr, ferr); err != nil {
			fail(c, err)
			return
		}
		h.exportRenewals(c, within)
		return
	}
	p, perr := store.ParseContractPage(c.Query("limit"), c.Query("cursor"))
	if err := validationOf(werr, ferr, perr); err != nil {
		fail(c, err)
		return
	}
	page, err := h.contracts.Renewals(c.Request.Context(), within, p)
	if err != nil {
		fail(c, err)
		return
	}
	h.contractPage(c, page)
}

// exportRenewals streams the CSV: the header, then one record per contract as the database
// cursor yields it, flushed every csvFlushRows. Nothing is written before the first row has been
// read, so a database that cannot be reached is still a 503 problem; an error after that cuts
// the connection, so that the client sees a broken download rather than a short file.
func (h *api) exportRenewals(c *gin.Context, within int) {
	ctx := c.Request.Context()
	filename := fmt.Sprintf("renewals-%s-within-%d-days.csv", h.contracts.Today(), within)
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
	_, err := h.contracts.ExportRenewals(ctx, within, func(r *models.ExportRow) error {
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
