package models

import (
	"slices"
	"strings"
)

// Staff roles (contract: Staff). superadmin may do everything any staff role may.
const (
	RoleOps        = "ops"
	RoleRenewals   = "renewals"
	RoleSupport    = "support"
	RoleSuperadmin = "superadmin"
)

// staffRoles lists the staff roles in their canonical order.
var staffRoles = []string{RoleOps, RoleRenewals, RoleSupport, RoleSuperadmin}

// StaffRoles lists the staff roles in their canonical order, in a fresh slice the caller may
// change.
func StaffRoles() []string { return slices.Clone(staffRoles) }

// API key scopes. A key may do only what a route names one of its scopes for.
const (
	ScopeOrdersWrite            = "orders:write"
	ScopeEntitlementsIntrospect = "entitlements:introspect"
	ScopeRenewalsRead           = "renewals:read"
)

// scopes lists every scope an API key may be given.
var scopes = []string{ScopeOrdersWrite, ScopeEntitlementsIntrospect, ScopeRenewalsRead}

// Scopes lists every scope an API key may be given, in a fresh slice the caller may change.
func Scopes() []string { return slices.Clone(scopes) }

// InOrder lists the items of order that are in set, in order's order (an empty list, not nil,
// when none is).
func InOrder(order []string, set map[string]bool) []string {
	out := []string{}
	for _, it := range order {
		if set[it] {
			out = append(out, it)
		}
	}
	return out
}

// PrincipalKind says what authenticated a request.
type PrincipalKind string

const (
	PrincipalUser   PrincipalKind = "user"    // a person with a session
	PrincipalAPIKey PrincipalKind = "api_key" // a machine client
)

// Principal is who is calling: a user with a session (customer or staff), or an API key. Handlers
// and services receive it; nothing else says who someone is.
type Principal struct {
	Kind PrincipalKind

	UserID        int64
	Email         string
	Name          string
	EmailVerified bool
	StaffRoles    []string
	SessionID     int64
	// MFAEnrolmentRequired: ENTITLED_STAFF_MFA=required and this staff user with a password has
	// no second factor yet; nothing but enrolment answers until they add one.
	MFAEnrolmentRequired bool

	APIKeyID   int64
	APIKeyName string
	Scopes     []string
}

// IsUser reports whether the principal is a person with a session.
func (p *Principal) IsUser() bool { return p != nil && p.Kind == PrincipalUser }

// IsStaff reports whether the principal is a user with any staff role.
func (p *Principal) IsStaff() bool { return p.IsUser() && len(p.StaffRoles) > 0 }

// HasStaffRole reports whether the principal is staff with the role, or superadmin.
func (p *Principal) HasStaffRole(role string) bool {
	if !p.IsUser() {
		return false
	}
	return slices.Contains(p.StaffRoles, role) || slices.Contains(p.StaffRoles, RoleSuperadmin)
}

// HasScope reports whether the principal is an API key with the scope.
func (p *Principal) HasScope(scope string) bool {
	return p != nil && p.Kind == PrincipalAPIKey && slices.Contains(p.Scopes, scope)
}

// Actor is who made a change, as the audit log records it, with where the request came from.
type Actor struct {
	Kind      string // user | staff | api_key | system
	ID        int64
	Email     string
	IP        string
	RequestID string
}

// Actor kinds of the audit log.
const (
	ActorUser   = "user"
	ActorStaff  = "staff"
	ActorAPIKey = "api_key"
	ActorSystem = "system"
)

// Actor describes the principal as the author of a change made from ip in request requestID.
func (p *Principal) Actor(ip, requestID string) Actor {
	a := Actor{IP: ip, RequestID: requestID}
	switch {
	case p == nil:
		a.Kind = ActorSystem
	case p.Kind == PrincipalAPIKey:
		a.Kind, a.ID, a.Email = ActorAPIKey, p.APIKeyID, p.APIKeyName
	case p.IsStaff():
		a.Kind, a.ID, a.Email = ActorStaff, p.UserID, p.Email
	default:
		a.Kind, a.ID, a.Email = ActorUser, p.UserID, p.Email
	}
	return a
}

// SystemActor is the author of changes that no person or key asked for (schedulers, the CLI).
func SystemActor(what string) Actor { return Actor{Kind: ActorSystem, Email: what} }

// ParseRoleList splits a stored comma-separated list.
func ParseRoleList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// SplitRoles reads a stored comma-separated role list.
func SplitRoles(s string) []string { return ParseRoleList(s) }
