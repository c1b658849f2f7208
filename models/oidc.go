package models

import (
	"fmt"
	"slices"
	"strings"
)

// RoleMap turns the groups (or roles) an identity provider names in its ID token into staff
// roles: ENTITLED_OIDC_ROLE_MAP, "idp-group=role,…". A group may map to several roles (name it
// once per role); a group the map does not name gives nothing.
type RoleMap map[string][]string

// ParseRoleMap reads "idp-group=role,…". Every role must be a staff role (ops, renewals, support,
// superadmin); an entry without "=", an empty group or an unknown role is an error that names it,
// so that a typo stops the server at start-up rather than silently granting nothing.
func ParseRoleMap(s string) (RoleMap, error) {
	m := RoleMap{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		group, role, ok := strings.Cut(entry, "=")
		group, role = strings.TrimSpace(group), strings.ToLower(strings.TrimSpace(role))
		switch {
		case !ok || group == "":
			return nil, fmt.Errorf("%q: want idp-group=role", entry)
		case !slices.Contains(staffRoles, role):
			return nil, fmt.Errorf("%q: %q is not a staff role (want one of %s)", entry, role, strings.Join(staffRoles, ", "))
		}
		if !slices.Contains(m[group], role) {
			m[group] = append(m[group], role)
		}
	}
	return m, nil
}

// Roles are the staff roles the groups map to, in the canonical order, each once; empty when
// none of the groups is mapped (such a person is refused at sign-in).
func (m RoleMap) Roles(groups []string) []string {
	seen := map[string]bool{}
	for _, g := range groups {
		for _, r := range m[g] {
			seen[r] = true
		}
	}
	return InOrder(staffRoles, seen)
}

// SSOIdentity is what a verified ID token says about the person signing in: the IdP's subject
// (how the user is found again), the email and name it vouches for, and the staff roles its
// groups map to (ENTITLED_OIDC_ROLE_MAP), read anew at every sign-in.
type SSOIdentity struct {
	Subject string
	Email   string
	Name    string
	Groups  []string // as the IdP sent them, for the audit log
	Roles   []string // RoleMap.Roles(Groups)
}
