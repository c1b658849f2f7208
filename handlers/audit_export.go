package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

// The audit log as a download: GET /v1/audit?format=csv or ?format=jsonl (or Accept: text/csv,
// application/jsonl) streams every matching entry, newest first, in flat memory.

const (
	mimeCSV   = "text/csv"
	mimeJSONL = "application/jsonl"
)

// auditFormat is the export format the request asks for: "" for a JSON page, "csv" or "jsonl".
// Errors: validation_failed on format.
func auditFormat(c *gin.Context) (string, error) {
	switch f := strings.ToLower(c.Query("format")); f {
	case "json":
		return "", nil
	case "csv", "jsonl":
		return f, nil
	case "":
		switch c.NegotiateFormat(gin.MIMEJSON, mimeCSV, mimeJSONL) {
		case mimeCSV:
			return "csv", nil
		case mimeJSONL:
			return "jsonl", nil
		}
		return "", nil
	default:
		var v models.Validation
		v.Add("format", models.FieldInvalid, "must be json, csv or jsonl")
		return "", v.Err()
	}
}

// auditCSVHeader are the columns of the audit CSV.
var auditCSVHeader = []string{"id", "at", "action", "subject", "actor_kind", "actor_id", "actor_email", "ip", "request_id", "details"}

// exportAudit streams the entries f matches as CSV or JSON lines. Nothing is written before the
// first entry has been read, so a database that cannot be reached is still a problem answer; an
// error after that cuts the connection, so that the client sees a broken download, not a short
// file.
func (h *api) exportAudit(c *gin.Context, format string, f models.AuditFilter) {
	buf := bufio.NewWriterSize(c.Writer, 32<<10)
	cw := csv.NewWriter(buf)
	cw.UseCRLF = true // RFC 4180
	enc := json.NewEncoder(buf)
	started, rows := false, 0
	start := func() error {
		started = true
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(exportWriteTimeout))
		name := "audit-" + time.Now().UTC().Format("20060102T150405Z") + "." + format
		c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
		c.Header("Cache-Control", "no-store")
		if format == "csv" {
			c.Header("Content-Type", mimeCSV+"; charset=utf-8")
			c.Status(http.StatusOK)
			return cw.Write(auditCSVHeader)
		}
		c.Header("Content-Type", mimeJSONL)
		c.Status(http.StatusOK)
		return nil
	}
	record := make([]string, len(auditCSVHeader))
	err := h.store.ExportAudit(c.Request.Context(), f, func(e *models.AuditEntry) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		a := toAuditJSON(e)
		var err error
		if format == "csv" {
			actorID, email := "", ""
			if a.Actor.ID != nil {
				actorID = *a.Actor.ID
			}
			if a.Actor.Email != nil {
				email = *a.Actor.Email
			}
			record = append(record[:0], a.ID, a.At.Format(time.RFC3339Nano), a.Action, a.Subject, a.Actor.Kind, actorID, email, a.IP, a.RequestID, e.Details)
			err = cw.Write(record)
		} else {
			err = enc.Encode(a)
		}
		if err != nil {
			return err
		}
		if rows++; rows%csvFlushRows == 0 {
			return flushExport(c, cw, buf)
		}
		return nil
	})
	if err == nil && !started {
		err = start()
	}
	if err == nil {
		err = flushExport(c, cw, buf)
	}
	switch {
	case err == nil:
	case !started:
		fail(c, err)
	default:
		logger(c).Warn("audit export cut short", "request_id", requestID(c), "rows", rows, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// flushExport sends what the writers hold to the client.
func flushExport(c *gin.Context, cw *csv.Writer, buf *bufio.Writer) error {
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return err
	}
	c.Writer.Flush()
	return nil
}
