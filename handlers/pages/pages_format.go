package pages

// Words for the portal's pages: statuses, roles, entitlements and their reasons, durations and
// dates as a person reads them. The API speaks in codes; the pages say the same in sentences.

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"entitled/models"
)

// pageFuncs are the functions the page templates may call.
func pageFuncs() template.FuncMap {
	return template.FuncMap{
		"date":         dateText,
		"instant":      instantText,
		"days":         relativeDays,
		"dayRel":       dayRelative,
		"statusWord":   statusWord,
		"statusClass":  statusClass,
		"statusSay":    statusSentence,
		"roleWord":     roleWord,
		"roleWords":    roleWords,
		"hasRole":      hasRole,
		"phaseWord":    phaseWord,
		"phaseClass":   phaseClass,
		"entWord":      entitlementWord,
		"reasonText":   reasonText,
		"duration":     isoDurationText,
		"programWord":  programWord,
		"programShort": programShort,
		"severityWord": severityWord,
		"actionWord":   auditActionWord,
		"join":         strings.Join,
		"inc":          func(i int) int { return i + 1 },
	}
}

// dateText is a day in ISO form, or a dash when there is none.
func dateText(d models.Date) string {
	if d.IsZero() {
		return "—"
	}
	return d.String()
}

// instantText is an instant in UTC, to the minute, in ISO form.
func instantText(t any) string {
	var tt time.Time
	switch v := t.(type) {
	case time.Time:
		tt = v
	case *time.Time:
		if v == nil {
			return "—"
		}
		tt = *v
	default:
		return ""
	}
	if tt.IsZero() {
		return "—"
	}
	return tt.UTC().Format("2006-01-02 15:04") + " UTC"
}

// relativeDays says a number of days from today in words: "today", "tomorrow", "in 12 days",
// "yesterday", "12 days ago".
func relativeDays(n int) string {
	switch {
	case n == 0:
		return "today"
	case n == 1:
		return "tomorrow"
	case n == -1:
		return "yesterday"
	case n > 1:
		return "in " + strconv.Itoa(n) + " days"
	}
	return strconv.Itoa(-n) + " days ago"
}

// dayRelative is relativeDays for a day seen from today.
func dayRelative(today, d models.Date) string {
	if d.IsZero() {
		return ""
	}
	return relativeDays(today.DaysUntil(d))
}

// statusWord names a support status for a badge.
func statusWord(status string) string {
	switch status {
	case models.StatusActive:
		return "Active"
	case models.StatusExpiring:
		return "Expiring soon"
	case models.StatusGrace:
		return "In grace period"
	case models.StatusLapsed:
		return "Lapsed"
	case models.StatusTerminated:
		return "Terminated"
	case models.StatusFuture:
		return "Not started"
	case models.StatusNone:
		return "No support"
	}
	return status
}

// statusClass is the badge colour of a status: ok (green), warn (amber), bad (red), info (blue)
// or muted (grey). The word is always shown too: colour is never the only signal.
func statusClass(status string) string {
	switch status {
	case models.StatusActive:
		return "ok"
	case models.StatusExpiring, models.StatusGrace:
		return "warn"
	case models.StatusLapsed, models.StatusTerminated:
		return "bad"
	case models.StatusFuture:
		return "info"
	}
	return "muted"
}

// trialLength is how long a trial's support runs, as page text says it ("30-day").
var trialLength = strconv.Itoa(models.TrialDays) + "-day"

// statusSentence explains a license's support status in a sentence.
func statusSentence(s models.SupportSummary, trial bool, today models.Date) string {
	end := s.EndsOn.String()
	switch s.Status {
	case models.StatusActive:
		if trial {
			return "Your trial support runs until " + end + " (" + relativeDays(s.DaysLeft) + ")."
		}
		return "Support is active until " + end + " (" + relativeDays(s.DaysLeft) + ")."
	case models.StatusExpiring:
		return "Support is active but ends " + relativeDays(s.DaysLeft) + ", on " + end + ". Contact your account manager to renew it."
	case models.StatusGrace:
		return "Support ended on " + end + "; it continues for a while as a courtesy while the renewal is agreed."
	case models.StatusLapsed:
		if trial {
			return "The " + trialLength + " trial support ended on " + end + ". You can still see what you own."
		}
		return "Support ended on " + end + " (" + relativeDays(s.DaysLeft) + ") and was not renewed. You can still see what you own and download what was released while it ran."
	case models.StatusTerminated:
		return "Support was ended early on " + end + "."
	case models.StatusFuture:
		if s.StartsOn.IsZero() {
			return "Support starts when the first administrator registers this license."
		}
		return "Support starts on " + s.StartsOn.String() + " (" + dayRelative(today, s.StartsOn) + ")."
	case models.StatusNone:
		return "This license was bought without a support contract."
	}
	return ""
}

// roleWord names a member role.
func roleWord(role string) string {
	switch role {
	case models.MemberAdmin:
		return "Administrator"
	case models.MemberSupport:
		return "Support User"
	case models.MemberLicense:
		return "License User"
	}
	return role
}

func roleWords(roles []string) string {
	if len(roles) == 0 {
		return "no role"
	}
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = roleWord(r)
	}
	return strings.Join(out, ", ")
}

func hasRole(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// phaseWord names a version's lifecycle phase.
func phaseWord(phase string) string {
	switch phase {
	case models.PhaseFull:
		return "Full support"
	case models.PhaseLimited:
		return "Limited support"
	case models.PhaseDiscontinued:
		return "Discontinued"
	}
	return phase
}

func phaseClass(phase string) string {
	switch phase {
	case models.PhaseFull:
		return "ok"
	case models.PhaseLimited:
		return "warn"
	}
	return "muted"
}

// programWord names a support program.
func programWord(program string, premier bool) string {
	var p string
	switch program {
	case models.ProgramStandard:
		p = "Standard (business hours)"
	case models.Program24x7:
		p = "24x7"
	case "":
		return "—"
	default:
		p = program
	}
	if premier {
		p += " with Premier"
	}
	return p
}

// programShort names a program in a table's narrow column.
func programShort(program string, premier bool) string {
	p := program
	switch program {
	case models.ProgramStandard:
		p = "Standard"
	case "":
		return "—"
	}
	if premier {
		p += " + Premier"
	}
	return p
}

// severityWord names a severity level.
func severityWord(s string) string {
	switch s {
	case "1":
		return "1 — critical: production down"
	case "2":
		return "2 — major: seriously degraded"
	case "3":
		return "3 — minor: partly affected"
	case "4":
		return "4 — question or request"
	}
	return s
}

// entitlementWord says what an entitlement lets a member do.
func entitlementWord(name string) string {
	switch name {
	case models.EntitlementAssetsRead:
		return "See this license and what it covers"
	case models.EntitlementSupportCases:
		return "Open support cases"
	case models.EntitlementSupportKB:
		return "Read the knowledge base"
	case models.EntitlementSupportChat:
		return "Chat with support engineers"
	case models.EntitlementDownloadsRead:
		return "Download the software"
	case models.EntitlementLicenseKeys:
		return "Get license keys for machines"
	case models.EntitlementSupportPremier:
		return "Premier support: faster response"
	}
	return name
}

// reasonText explains a denial reason in plain language. ent is the entitlement it denies (the
// missing role depends on it), s the license's support for the dates.
func reasonText(reason, ent string, s models.SupportSummary) string {
	switch reason {
	case "":
		return ""
	case models.ReasonNotAMember:
		return "You are not a member of this license."
	case models.ReasonRoleMissing:
		if ent == models.EntitlementLicenseKeys {
			return "Needs the License User role: ask an administrator of this license."
		}
		return "Needs the Support User role: ask an administrator of this license."
	case models.ReasonVersionDiscontinued:
		return "This version is discontinued: it is no longer downloadable."
	case models.ReasonNoSupportContract:
		return "This license was bought without a support contract."
	case models.ReasonSupportNotStarted:
		if s.StartsOn.IsZero() {
			return "Support has not started yet."
		}
		return "Support starts on " + s.StartsOn.String() + "."
	case models.ReasonSupportTerminated:
		return "Support was ended early on " + s.EndsOn.String() + "."
	case models.ReasonTrialExpired:
		return "The " + trialLength + " trial support has ended."
	case models.ReasonSupportLapsed:
		if ent == models.EntitlementDownloadsRead || ent == models.EntitlementLicenseKeys {
			return "Released after support ended on " + s.EndsOn.String() + ": renew support to get it."
		}
		return "Support ended on " + s.EndsOn.String() + ": renew it to get this back."
	case models.ReasonPremierNotPurchased:
		return "The Premier add-on is not part of this contract."
	}
	return strings.ReplaceAll(reason, "_", " ")
}

// isoDurationText says a response target ("PT30M", "PT1H", "P1BD") in words.
func isoDurationText(d string) string {
	switch {
	case d == "":
		return "—"
	case strings.HasSuffix(d, "BD") && strings.HasPrefix(d, "P"):
		n := strings.TrimSuffix(strings.TrimPrefix(d, "P"), "BD")
		return plural(n, "business day")
	case strings.HasPrefix(d, "PT") && strings.HasSuffix(d, "H"):
		return plural(strings.TrimSuffix(strings.TrimPrefix(d, "PT"), "H"), "hour")
	case strings.HasPrefix(d, "PT") && strings.HasSuffix(d, "M"):
		return plural(strings.TrimSuffix(strings.TrimPrefix(d, "PT"), "M"), "minute")
	}
	return d
}

func plural(n, unit string) string {
	if n == "1" {
		return "1 " + unit
	}
	return n + " " + unit + "s"
}

// auditActionWord says an audit action in words.
func auditActionWord(action string) string {
	if w, ok := auditWords[action]; ok {
		return w
	}
	return strings.ReplaceAll(strings.ReplaceAll(action, ".", ": "), "_", " ")
}

var auditWords = map[string]string{
	"registration.claimed":        "Registered as first administrator",
	"registration.requested":      "Asked to join",
	"registration.approved":       "Join request approved",
	"registration.rejected":       "Join request rejected",
	"registration.withdrawn":      "Join request withdrawn",
	"member.granted":              "Roles granted",
	"member.invited":              "Colleague invited",
	"member.invitation_accepted":  "Invitation accepted",
	"member.invitation_cancelled": "Invitation cancelled",
	"member.removed":              "Member removed",
	"contract.renewed":            "Support renewed",
	"contract.upgraded":           "Support upgraded",
	"contract.terminated":         "Support terminated",
	"contract.grace_granted":      "Grace period granted",
	"license.created":             "Ordered",
	"license.seats_added":         "Seats added",
}

// fieldMessages turns a validation error's fields into sentences keyed by field name, for the
// form that sent them.
func fieldMessages(err error) map[string]string {
	e, ok := err.(*models.Error)
	if !ok || e.Code != models.CodeValidation {
		return nil
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		name := f.Field
		if i := strings.IndexAny(name, ".["); i > 0 {
			name = name[:i]
		}
		if _, dup := out[name]; !dup {
			out[name] = fieldSentence(name, f.Detail)
		}
	}
	return out
}

// fieldSentence makes a field's detail a sentence: "is required" becomes "The email is
// required.", a detail that is a sentence of its own ("say why …") is capitalised.
func fieldSentence(name, detail string) string {
	if strings.HasPrefix(detail, "is ") || strings.HasPrefix(detail, "must ") {
		return fmt.Sprintf("The %s %s.", fieldWord(name), detail)
	}
	if detail == "" {
		return "Check the " + fieldWord(name) + "."
	}
	return strings.ToUpper(detail[:1]) + detail[1:] + "."
}

func fieldWord(name string) string {
	switch name {
	case "ends_on":
		return "end date"
	case "until":
		return "date"
	case "license_number":
		return "License Number"
	case "account_id":
		return "Account ID"
	case "service_tag":
		return "service tag"
	case "current_password":
		return "password"
	case "new_password":
		return "new password"
	}
	return strings.ReplaceAll(name, "_", " ")
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
