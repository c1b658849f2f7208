package models

import "testing"

func TestLicenseAccess(t *testing.T) {
	user := &Principal{Kind: PrincipalUser, UserID: 1, EmailVerified: true}
	staff := func(roles ...string) *Principal {
		return &Principal{Kind: PrincipalUser, UserID: 2, EmailVerified: true, StaffRoles: roles}
	}
	key := &Principal{Kind: PrincipalAPIKey, APIKeyID: 3, Scopes: Scopes()}
	admin, lic, sup := []string{MemberAdmin}, []string{MemberLicense}, []string{MemberSupport}
	cases := []struct {
		name  string
		p     *Principal
		found bool
		roles []string
		role  string
		want  string
	}{
		{"member looks", user, true, sup, "", ""},
		{"member has the role", user, true, lic, MemberLicense, ""},
		{"member lacks the role", user, true, lic, MemberAdmin, CodeRoleMissing},
		{"admin is not a License User", user, true, admin, MemberLicense, CodeRoleMissing},
		{"not a member", user, true, nil, "", CodeNotAMember},
		{"removed member (no role)", user, true, []string{}, "", CodeNotAMember},
		{"no such license: non-member learns nothing", user, false, nil, "", CodeNotAMember},
		{"no such license: not even for the role", user, false, nil, MemberAdmin, CodeNotAMember},
		{"nil principal", nil, true, nil, "", CodeNotAMember},
		{"API key", key, true, nil, "", CodeNotAMember},
		{"any staff may look", staff(RoleOps), true, nil, "", ""},
		{"staff looking at nothing", staff(RoleRenewals), false, nil, "", CodeNotFound},
		{"ops does not act as admin", staff(RoleOps), true, nil, MemberAdmin, CodeNotAMember},
		{"renewals does not act as admin", staff(RoleRenewals), true, nil, MemberAdmin, CodeNotAMember},
		{"support acts as admin", staff(RoleSupport), true, nil, MemberAdmin, ""},
		{"superadmin acts as admin", staff(RoleSuperadmin), true, nil, MemberAdmin, ""},
		{"support: admin of nothing", staff(RoleSupport), false, nil, MemberAdmin, CodeNotFound},
		{"support is no License User", staff(RoleSupport), true, nil, MemberLicense, CodeNotAMember},
		{"staff who is a member uses the roles", staff(RoleOps), true, lic, MemberLicense, ""},
		{"staff member lacking the role", staff(RoleOps), true, sup, MemberLicense, CodeRoleMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := LicenseAccess(c.p, c.found, c.roles, c.role); got != c.want {
				t.Errorf("LicenseAccess = %q, want %q", got, c.want)
			}
			err := LicenseAccessError(c.want, "L-TEST", c.role)
			if (err == nil) != (c.want == "") {
				t.Errorf("LicenseAccessError(%q) = %v", c.want, err)
			}
		})
	}
}

func TestMayManageKeys(t *testing.T) {
	user := &Principal{Kind: PrincipalUser, UserID: 1, EmailVerified: true}
	staff := func(roles ...string) *Principal {
		return &Principal{Kind: PrincipalUser, UserID: 2, EmailVerified: true, StaffRoles: roles}
	}
	cases := []struct {
		name  string
		p     *Principal
		roles []string
		want  bool
	}{
		{"License User", user, []string{MemberLicense}, true},
		{"admin", user, []string{MemberAdmin}, true},
		{"support member", user, []string{MemberSupport}, false},
		{"stranger", user, nil, false},
		{"staff support", staff(RoleSupport), nil, true},
		{"superadmin", staff(RoleSuperadmin), nil, true},
		{"ops", staff(RoleOps), nil, false},
	}
	for _, c := range cases {
		if got := MayManageKeys(c.p, c.roles); got != c.want {
			t.Errorf("%s: MayManageKeys = %v, want %v", c.name, got, c.want)
		}
		if got, want := MayActAs(c.p, c.roles, MemberAdmin), c.p.HasStaffRole(RoleSupport) || (c.roles != nil && c.roles[0] == MemberAdmin); got != want {
			t.Errorf("%s: MayActAs(admin) = %v, want %v", c.name, got, want)
		}
	}
}

func TestOnlyAdmin(t *testing.T) {
	ann := MemberView{Email: "ann@example.com", Roles: []string{MemberAdmin, MemberSupport}}
	bob := MemberView{Email: "bob@example.com", Roles: []string{MemberSupport}}
	cat := MemberView{Email: "cat@example.com", Roles: []string{MemberAdmin}}
	for _, tc := range []struct {
		members []MemberView
		email   string
		want    bool
	}{
		{[]MemberView{ann, bob}, "ann@example.com", true},
		{[]MemberView{ann, bob}, "ANN@example.com", true},
		{[]MemberView{ann, bob}, "bob@example.com", false},
		{[]MemberView{ann, bob, cat}, "ann@example.com", false},
		{[]MemberView{ann}, "nobody@example.com", false},
	} {
		if got := OnlyAdmin(tc.members, tc.email); got != tc.want {
			t.Errorf("OnlyAdmin(%d members, %s) = %v, want %v", len(tc.members), tc.email, got, tc.want)
		}
	}
}
