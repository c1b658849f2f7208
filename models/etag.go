package models

import (
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// EntityTag is the strong ETag (RFC 9110 §8.8.3) of a changeable single resource of kind, made
// from every part of it that its representation shows: two representations that differ never
// share a tag (whatever the clock did between them), the same one always has the same tag, and a
// tag says nothing of the contents.
func EntityTag(kind string, parts ...string) string {
	h := fnv.New128a() // a tag, not a secret: no crypto in the rules
	h.Write([]byte(kind))
	for _, p := range parts {
		// Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
		h.Write([]byte("\x00" + strconv.Itoa(len(p)) + ":" + p))
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + `"`
}

// TagTime is t as an EntityTag part: to the microsecond, the precision both databases keep.
func TagTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return strconv.FormatInt(t.UTC().UnixMicro(), 10)
}

// CheckIfMatch applies an If-Match header (RFC 9110 §13.1.1) to the resource's current tag:
// empty lets the change through (the header is optional), "*" matches any existing resource,
// otherwise one of the listed tags must be the current one by strong comparison (a weak W/ tag
// never matches). Errors: precondition_failed.
func CheckIfMatch(ifMatch, current string) error {
	ifMatch = strings.TrimSpace(ifMatch)
	if ifMatch == "" || ifMatch == "*" {
		return nil
	}
	for _, tag := range strings.Split(ifMatch, ",") {
		if strings.TrimSpace(tag) == current {
			return nil
		}
	}
	return Errorf(CodePreconditionFailed, "the resource changed since you read it (If-Match %s, now %s): read it again and re-apply your change", Clip(ifMatch, 100), current)
}

// The tags of the changeable single resources (contract, "Conventions").

// ETag is the product's tag: its SKU, name and every version with its release day and phase.
func (p *Product) ETag() string {
	parts := []string{p.SKU, p.Name}
	for _, v := range p.Versions {
		parts = append(parts, v.Version, v.ReleasedOn.String(), v.Phase)
	}
	return EntityTag("product", parts...)
}

// ETag is the account's tag: its number, name and primary contact.
func (a *Account) ETag() string {
	return EntityTag("account", a.AccountID, a.Name, a.ContactName, a.ContactEmail)
}

// ETag is the member's tag on the license numbered ln: the address, roles and grant version.
func (m *MemberView) ETag(ln string) string {
	return EntityTag("member", ln, NormaliseEmail(m.Email), strings.Join(m.Roles, ","), strconv.FormatInt(m.GrantVersion, 10), TagTime(&m.Since))
}
