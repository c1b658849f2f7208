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
		"statusWord":   statusBadges.word,
		"statusClass":  statusBadges.class,
		"statusSay":    statusSentence,
		"roleWord":     roleWord,
		"roleWords":    roleWords,
		"hasRole":      hasRole,
		"phaseWord":    phaseBadges.word,
		"phaseClass":   phaseBadges.class,
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

// badge is how a page shows a code: its word and its colour, ok (green), warn (amber), bad (red),
// info (blue) or muted (grey). The word is always shown too: colour is never the only signal.
type badge struct{ word, class string }

// badges is the table of a kind of code's badges.
type badges map[string]badge

// word names key; a key the table does not know is said as itself.
func (t badges) word(key string) string {
	if b, ok := t[key]; ok {
		return b.word
	}
	return key
}

// class is the colour of key's badge; a key the table does not know is muted.
func (t badges) class(key string) string {
	if b, ok := t[key]; ok {
		return b.class
	}
	return "muted"
}

// statusBadges name the support statuses.
var statusBadges = badges{
	models.StatusActive:     {"Active", "ok"},
	models.StatusExpiring:   {"Expiring soon", "warn"},
	models.StatusGrace:      {"In grace period", "warn"},
	models.StatusLapsed:     {"Lapsed", "bad"},
	models.StatusTerminated: {"Terminated", "bad"},
	models.StatusFuture:     {"Not started", "info"},
	models.StatusNone:       {"No support", "muted"},
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
func roleWord(role string) string { return wordIn(memberRoleWords, role, role) }

var memberRoleWords = map[string]string{
	models.MemberAdmin:   "Administrator",
	models.MemberSupport: "Support User",
	models.MemberLicense: "License User",
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

// phaseBadges name a version's lifecycle phases.
var phaseBadges = badges{
	models.PhaseFull:         {"Full support", "ok"},
	models.PhaseLimited:      {"Limited support", "warn"},
	models.PhaseDiscontinued: {"Discontinued", "muted"},
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
func severityWord(s string) string { return wordIn(severityWords, s, s) }

var severityWords = map[string]string{
	"1": "1 — critical: production down",
	"2": "2 — major: seriously degraded",
	"3": "3 — minor: partly affected",
	"4": "4 — question or request",
}

// entitlementWord says what an entitlement lets a member do.
func entitlementWord(name string) string { return wordIn(entitlementWords, name, name) }

var entitlementWords = map[string]string{
	models.EntitlementAssetsRead:     "See this license and what it covers",
	models.EntitlementSupportCases:   "Open support cases",
	models.EntitlementSupportKB:      "Read the knowledge base",
	models.EntitlementSupportChat:    "Chat with support engineers",
	models.EntitlementDownloadsRead:  "Download the software",
	models.EntitlementLicenseKeys:    "Get license keys for machines",
	models.EntitlementSupportPremier: "Premier support: faster response",
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
	return wordIn(auditWords, action, strings.ReplaceAll(strings.ReplaceAll(action, ".", ": "), "_", " "))
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

// wordIn is the word table gives key, or fallback when it gives none.
func wordIn(table map[string]string, key, fallback string) string {
	if w, ok := table[key]; ok {
		return w
	}
	return fallback
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
