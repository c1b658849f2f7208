package models

import (
	"slices"
	"time"
)

// Member roles on a license.
const (
	MemberAdmin   = "admin"
	MemberSupport = "support"
	MemberLicense = "license"
)

// memberRoles lists the member roles in their canonical order.
var memberRoles = []string{MemberAdmin, MemberSupport, MemberLicense}

// MemberRoles lists the member roles in their canonical order, in a fresh slice the caller may
// change.
func MemberRoles() []string { return slices.Clone(memberRoles) }

// Codes of registration and membership errors.
const (
	CodeRoleMissing        = "role_missing"
	CodeLastAdmin          = "last_admin"
	CodeLicenseNotFound    = "license_not_found"
	CodeNoAdminForAccount  = "no_admin_for_account"
	CodeRequestNotPending  = "request_not_pending"
	CodeMemberNotFound     = "member_not_found"
	CodeInvitationNotFound = "invitation_not_found"
)

// Member is a user's place on a license. A removed member keeps its row with no role, so that its
// grant version only ever goes up.
type Member struct {
	ID           int64
	LicenseID    int64
	UserID       int64
	RoleAdmin    bool
	RoleSupport  bool
	RoleLicense  bool
	GrantVersion int64
	Since        time.Time
	UpdatedAt    time.Time
	// StatusListID and StatusIdx are the current grant version's index in a token status list
	// (statuslist.go): nil while the member holds no role.
	StatusListID *int64
	StatusIdx    *int64
}

// Roles lists the member's roles in canonical order.
func (m *Member) Roles() []string {
	out := []string{}
	if m.RoleAdmin {
		out = append(out, MemberAdmin)
	}
	if m.RoleSupport {
		out = append(out, MemberSupport)
	}
	if m.RoleLicense {
		out = append(out, MemberLicense)
	}
	return out
}

// Active reports whether the member has any role.
func (m *Member) Active() bool { return m.RoleAdmin || m.RoleSupport || m.RoleLicense }

// Has reports whether the member has the role.
func (m *Member) Has(role string) bool { return slices.Contains(m.Roles(), role) }

func (m *Member) SetRoles(roles []string) {
	m.RoleAdmin = slices.Contains(roles, MemberAdmin)
	m.RoleSupport = slices.Contains(roles, MemberSupport)
	m.RoleLicense = slices.Contains(roles, MemberLicense)
}

// StaffActsAsAdmin reports whether the principal is staff who may act as any license's admin.
func StaffActsAsAdmin(p *Principal) bool { return p.HasStaffRole(RoleSupport) }

// MemberView is a member as lists show it.
type MemberView struct {
	Email        string
	Name         string
	UserID       int64
	Roles        []string
	Since        time.Time
	GrantVersion int64
}

// Membership is one license of a user with the roles there.
type Membership struct {
	LicenseNumber string
	Roles         []string
}

// InvitationView is a pending invitation to a license: to whom, with which roles, sent by whom
// (InvitedBy is the inviter's name, or "" when staff or the CLI sent it).
type InvitationView struct {
	LicenseNumber string
	ProductName   string
	Email         string
	Roles         []string
	InvitedBy     string
	CreatedAt     time.Time
}
