package models

import (
	"strconv"
	"time"
)

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	ID          int64
	At          time.Time
	ActorKind   string
	ActorID     *int64
	ActorEmail  *string
	Action      string
	SubjectType string
	SubjectID   string
	LicenseID   *int64
	Details     string // a JSON object
	IP          string
	RequestID   string
}

func (AuditEntry) TableName() string { return "audit_log" }

// Subject names what a change was made to, as "type:id".
func (e AuditEntry) Subject() string { return e.SubjectType + ":" + e.SubjectID }

// AuditRecord is what a service tells the audit log about a change.
type AuditRecord struct {
	Action      string // dotted, past tense: "api_key.created", "member.granted"
	SubjectType string // license | contract | user | api_key | product | …
	SubjectID   string
	LicenseID   int64          // 0 when the change concerns no license
	Details     map[string]any // what changed; never secrets
}

// AuditFilter narrows an audit listing; zero fields do not filter.
type AuditFilter struct {
	Action      string
	SubjectType string
	SubjectID   string
	ActorID     int64
	LicenseID   int64
	Since       time.Time
	Until       time.Time
}

// ParseAuditFilter reads the query parameters of an audit listing.
func ParseAuditFilter(action, subject, actorID, since, until string) (AuditFilter, error) {
	var v Validation
	f := AuditFilter{Action: action}
	if subject != "" {
		typ, id, ok := cutSubject(subject)
		if !ok {
			v.Add("subject", FieldInvalid, "must be type or type:id, e.g. license:LN-… or user:12")
		}
		f.SubjectType, f.SubjectID = typ, id
	}
	if actorID != "" {
		n, err := strconv.ParseInt(actorID, 10, 64)
		if err != nil || n <= 0 {
			v.Add("actor", FieldInvalid, "must be a user or API key id")
		}
		f.ActorID = n
	}
	for _, p := range []struct {
		name, val string
		dst       *time.Time
	}{{"since", since, &f.Since}, {"until", until, &f.Until}} {
		if p.val == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.val)
		if err != nil {
			if d, err2 := ParseDate(p.val); err2 == nil {
				t = d.Time()
			} else {
				v.Add(p.name, FieldInvalid, "must be an RFC 3339 instant or a YYYY-MM-DD date between 1970-01-01 and 9999-12-31")
				continue
			}
		}
		if t.Before(MinDate.Time()) || !t.Before(MaxDate.AddDays(1).Time()) {
			v.Add(p.name, FieldInvalid, "must be between 1970-01-01 and 9999-12-31")
			continue
		}
		*p.dst = t
	}
	return f, v.Err()
}

func cutSubject(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return s, "", s != ""
}
