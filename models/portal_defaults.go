package models

// Defaults renewal staff see on a contract's page (the portal suggests them; the API takes
// whatever dates it is given, within MaxGraceDays).
const (
	// DefaultRenewalTermDays is how far a renewal suggests moving ends_on: from the current
	// ends_on, or from today for a contract without one.
	DefaultRenewalTermDays = 365
	// DefaultGraceDays is how far past ends_on grace is suggested (never past MaxGraceDays).
	DefaultGraceDays = 30
)
