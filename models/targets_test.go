package models

import (
	"maps"
	"slices"
	"testing"
)

// The contract's table of initial-response targets, for every program with and without premier:
// premier shortens the targets, the program alone decides the hours, and 24x7 runs around the
// clock for severity 1 only.
func TestResponseTargets(t *testing.T) {
	standard := map[string]string{"1": "PT1H", "2": "PT2H", "3": "PT4H", "4": "P1BD"}
	premier := map[string]string{"1": "PT30M", "2": "PT1H", "3": "PT2H", "4": "PT4H"}
	tests := []struct {
		program        string
		premier        bool
		targets        map[string]string
		hours          string
		aroundTheClock []string
	}{
		{ProgramStandard, false, standard, HoursBusiness, nil},
		{ProgramStandard, true, premier, HoursBusiness, nil},
		{Program24x7, false, standard, Hours24x7, []string{"1"}},
		{Program24x7, true, premier, Hours24x7, []string{"1"}},
		{"", false, nil, "", nil}, // a license without support carries no targets
		{"", true, nil, "", nil},  // nor does premier without a program
	}
	for _, tt := range tests {
		targets, hours := ResponseTargets(tt.program, tt.premier)
		if !maps.Equal(targets, tt.targets) || hours != tt.hours {
			t.Errorf("ResponseTargets(%q, premier=%v) = %v, %q; want %v, %q", tt.program, tt.premier, targets, hours, tt.targets, tt.hours)
		}
		if got := TargetsFor(tt.program, tt.premier).AroundTheClock; !slices.Equal(got, tt.aroundTheClock) {
			t.Errorf("TargetsFor(%q, premier=%v).AroundTheClock = %v; want %v", tt.program, tt.premier, got, tt.aroundTheClock)
		}
		if tt.targets != nil && !slices.Equal(slices.Sorted(maps.Keys(targets)), Severities()) {
			t.Errorf("ResponseTargets(%q) is keyed %v; want every severity %v", tt.program, slices.Sorted(maps.Keys(targets)), Severities())
		}
	}
}

// Each answer is its own map: a caller that changes one cannot change the next answer.
func TestResponseTargets_FreshMap(t *testing.T) {
	first, _ := ResponseTargets(ProgramStandard, false)
	first["1"] = "PT9H"
	if again, _ := ResponseTargets(ProgramStandard, false); again["1"] != "PT1H" {
		t.Fatalf("a changed answer leaked into the next: severity 1 = %s", again["1"])
	}
}
