package models

import "slices"

// Who may act on a license. The store loads the license and the principal's membership (the
// full query in store/access.go, the cached one in store/hotpath.go); LicenseAccess decides, and the portal
// asks MayActAs for what a page offers.

// LicenseAccess decides whether the principal may act on a license with the role (an empty role:
// any membership). found says whether the license exists; roles are the principal's active roles
// on it, nil (or empty) when not a member — callers pass nil for a user whose address is not
// verified, who is a member of nothing. Any staff may look (role ""); staff who act as admin
// (StaffActsAsAdmin: support, superadmin) may act as admin. It answers "" when allowed, or the
// error code: not_found (only to staff, who may know), not_a_member (also for a number that does
// not exist: a non-member learns nothing about it), role_missing.
func LicenseAccess(p *Principal, found bool, roles []string, role string) string {
	staffOK := (role == "" && p.IsStaff()) || (role == MemberAdmin && StaffActsAsAdmin(p))
	switch {
	case staffOK && !found:
		return CodeNotFound
	case staffOK:
		return ""
	case !found || len(roles) == 0:
		return CodeNotAMember
	case role != "" && !slices.Contains(roles, role):
		return CodeRoleMissing
	}
	return ""
}

// LicenseAccessError is the error for LicenseAccess's code on the license with the canonical
// number (nil for "").
func LicenseAccessError(code, canonical, role string) error {
	switch code {
	case "":
		return nil
	case CodeNotFound:
		return Errorf(CodeNotFound, "there is no license %s", canonical)
	case CodeNotAMember:
		return Errorf(CodeNotAMember, "you are not a member of license %s", canonical)
	case CodeRoleMissing:
		return Errorf(CodeRoleMissing, "this needs the %s role on license %s", role, canonical)
	}
	return Errorf(code, "no access to license %s", canonical)
}

// MayActAs reports whether the principal, with the roles on an existing license, may act there
// with the role (LicenseAccess allows it).
func MayActAs(p *Principal, roles []string, role string) bool {
	return LicenseAccess(p, true, roles, role) == ""
}

// MayManageKeys reports whether the principal may see and release a license's keys: a member
// with the license or admin role, or staff who act as admin.
func MayManageKeys(p *Principal, roles []string) bool {
	return MayActAs(p, roles, MemberLicense) || MayActAs(p, roles, MemberAdmin)
}

// OnlyAdmin reports whether the member with the address is the license's only admin among
// members, so that removing them (or taking their admin role) would leave it without one: the
// store refuses that with last_admin, and the portal says so before asking to confirm.
func OnlyAdmin(members []MemberView, email string) bool {
	admins, isAdmin := 0, false
	for _, m := range members {
		if slices.Contains(m.Roles, MemberAdmin) {
			admins++
			isAdmin = isAdmin || NormaliseEmail(m.Email) == NormaliseEmail(email)
		}
	}
	return isAdmin && admins == 1
}
