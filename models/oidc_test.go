package models

import (
	"slices"
	"strings"
	"testing"
)

// ENTITLED_OIDC_ROLE_MAP: "idp-group=role,…", only staff roles, a group may give several.
func TestParseRoleMap(t *testing.T) {
	m, err := ParseRoleMap(" eng-admins=superadmin, renewals-team = Renewals ,support-team=support,support-team=ops,support-team=ops,")
	if err != nil {
		t.Fatal(err)
	}
	want := RoleMap{"eng-admins": {RoleSuperadmin}, "renewals-team": {RoleRenewals}, "support-team": {RoleSupport, RoleOps}}
	if len(m) != len(want) {
		t.Fatalf("got %v, want %v", m, want)
	}
	for g, roles := range want {
		if !slices.Equal(m[g], roles) {
			t.Errorf("%s: got %v, want %v", g, m[g], roles)
		}
	}
	for _, tc := range []struct{ in, says string }{
		{"eng-admins=admin", `"admin" is not a staff role`},
		{"eng-admins", "want idp-group=role"},
		{"=superadmin", "want idp-group=role"},
		{"a=ops,b=root", `"root" is not a staff role`},
	} {
		if _, err := ParseRoleMap(tc.in); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseRoleMap(%q) = %v, want an error saying %s", tc.in, err, tc.says)
		}
	}
}

// The roles a person's groups give: each once, in the canonical order; groups the map does not
// name give nothing (and nothing at all means the sign-in is refused).
func TestRoleMapRoles(t *testing.T) {
	m := RoleMap{"eng-admins": {RoleSuperadmin}, "support-team": {RoleSupport, RoleOps}, "ops-team": {RoleOps}}
	for _, tc := range []struct {
		groups []string
		want   []string
	}{
		{[]string{"support-team", "ops-team", "eng-admins"}, []string{RoleOps, RoleSupport, RoleSuperadmin}},
		{[]string{"ops-team"}, []string{RoleOps}},
		{[]string{"everyone", "Eng-Admins"}, []string{}}, // group names compare exactly
		{nil, []string{}},
	} {
		if got := m.Roles(tc.groups); !slices.Equal(got, tc.want) {
			t.Errorf("Roles(%v) = %v, want %v", tc.groups, got, tc.want)
		}
	}
}
