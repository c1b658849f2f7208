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

// The renewal dashboard's windows: it counts the current contracts due within each of them.
var dashboardWindows = []int{7, 30, 60, 90}

// DashboardWindows are the renewal dashboard's windows, in days, shortest first.
func DashboardWindows() []int { return append([]int(nil), dashboardWindows...) }

// DashboardWarnDays is the widest window whose tile is marked as a warning when it counts any
// contract.
const DashboardWarnDays = 30

// PortalPageSize is how many rows a page of the portal's longer lists shows (licenses, license
// keys, renewals); the audit trail and the help queue show models.PageDefault.
const PortalPageSize = 100
