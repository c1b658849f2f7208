package store

import (
	"slices"
	"strings"

	"entitled/models"
)

// normaliseSet checks every item against allowed and returns them de-duplicated in allowed's
// order; unknown ones are reported to v under field.
func normaliseSet(v *models.Validation, field string, items, allowed []string) []string {
	seen := map[string]bool{}
	for i, it := range items {
		it = strings.ToLower(strings.TrimSpace(it))
		if !slices.Contains(allowed, it) {
			v.Add(fieldIndex(field, i), models.FieldInvalid, "must be one of "+strings.Join(allowed, ", "))
			continue
		}
		seen[it] = true
	}
	return models.InOrder(allowed, seen)
}

func fieldIndex(field string, i int) string {
	return field + "[" + itoa(i) + "]"
}

// verifiedPerson refuses p unless it is a person (forbidden, saying notPerson) whose address is
// verified (email_unverified).
func verifiedPerson(p *models.Principal, notPerson string) error {
	if !p.IsUser() {
		return models.Errorf(models.CodeForbidden, "%s", notPerson)
	}
	if !p.EmailVerified {
		return models.Errorf(models.CodeEmailUnverified, "confirm your email address first: follow the link in the letter we sent you")
	}
	return nil
}
