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
	out := []string{}
	for _, a := range allowed {
		if seen[a] {
			out = append(out, a)
		}
	}
	return out
}

func fieldIndex(field string, i int) string {
	return field + "[" + itoa(i) + "]"
}
