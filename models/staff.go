package models

// StaffInput creates or updates a staff member.
type StaffInput struct {
	Email    string
	Name     string   // for a new user; optional (defaults to the email's local part)
	Roles    []string // empty removes every staff right
	Password string   // required for a new user; when given for an existing one, it is changed
}
