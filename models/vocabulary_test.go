package models

import (
	"slices"
	"testing"
)

// The lists of the vocabulary are functions that return a fresh slice: a caller that changes
// what it got changes nothing for anyone else.
func TestVocabularyListsAreCopies(t *testing.T) {
	lists := map[string]func() []string{
		"Phases":           Phases,
		"EntitlementNames": EntitlementNames,
		"DenialReasons":    DenialReasons,
		"KeyPurposes":      KeyPurposes,
		"StaffRoles":       StaffRoles,
		"Scopes":           Scopes,
		"MemberRoles":      MemberRoles,
		"Severities":       Severities,
		"ContractStatuses": ContractStatuses,
	}
	for name, list := range lists {
		want := list()
		if len(want) == 0 {
			t.Fatalf("%s is empty", name)
		}
		got := list()
		got[0] = "changed"
		_ = append(got[:1], "appended")
		if again := list(); !slices.Equal(again, want) {
			t.Errorf("%s after a caller changed its copy: %v; want %v", name, again, want)
		}
	}
	if !IsEntitlement(EntitlementNames()[0]) {
		t.Error("IsEntitlement refuses the first of EntitlementNames")
	}
}
