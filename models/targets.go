package models

import "slices"

// Support hours (contract: "Response targets"). The hours follow the program; premier shortens the
// targets but does not change the hours.
const (
	HoursBusiness = "business" // standard: targets run in business hours only
	Hours24x7     = "24x7"     // 24x7: severity 1 around the clock, 2–4 in business hours
)

// severities, the keys of response_targets, most urgent first.
var severities = []string{"1", "2", "3", "4"}

// Severities lists the keys of response_targets, most urgent first, in a fresh slice the caller
// may change.
func Severities() []string { return slices.Clone(severities) }

// Initial-response targets by severity, as ISO 8601 durations ("P1BD" is one business day, the
// contract's own notation). Standard and 24x7 share one column: 24x7 differs only in its hours.
var (
	baseTargets    = map[string]string{"1": "PT1H", "2": "PT2H", "3": "PT4H", "4": "P1BD"}
	premierTargets = map[string]string{"1": "PT30M", "2": "PT1H", "3": "PT2H", "4": "PT4H"}
)

// Targets are the response targets a contract carries.
type Targets struct {
	// Hours is "business" (standard) or "24x7" (24x7, with or without premier).
	Hours string
	// BySeverity maps "1".."4" to an ISO 8601 duration: response_targets of the contract.
	BySeverity map[string]string
	// AroundTheClock lists the severities whose target runs around the clock rather than in
	// business hours: ["1"] on 24x7 (the contract: "24x7 is around the clock for severity 1
	// only"), none on standard. It is spelled out here because "hours: 24x7" alone would read as
	// if every severity were; the API keeps the contract's hours value and may show this list.
	AroundTheClock []string
}

// TargetsFor is the response targets of a program, with premier's shorter targets when premier
// is current (the caller passes premier=false when the add-on is absent or its program is not
// current; see PremierCurrent). An unknown program (a license without support) has no targets:
// the zero Targets.
func TargetsFor(program string, premier bool) Targets {
	var t Targets
	switch program {
	case ProgramStandard:
		t.Hours = HoursBusiness
	case Program24x7:
		t.Hours, t.AroundTheClock = Hours24x7, []string{"1"}
	default:
		return Targets{}
	}
	src := baseTargets
	if premier {
		src = premierTargets
	}
	// A fresh map each time: callers put it in answers and tokens and may change it.
	t.BySeverity = make(map[string]string, len(src))
	for k, v := range src {
		t.BySeverity[k] = v
	}
	return t
}

// ResponseTargets is the contract's response_targets and hours for a program: targets keyed "1"
// to "4" and hours "business" or "24x7". See TargetsFor; an unknown program gives nil and "".
func ResponseTargets(program string, premier bool) (targets map[string]string, hours string) {
	t := TargetsFor(program, premier)
	return t.BySeverity, t.Hours
}
