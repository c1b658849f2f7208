package models

// MyLicense is a license of the caller's with their roles on it.
type MyLicense struct {
	Detail LicenseDetail
	Roles  []string
}

// PutMemberResult says what a grant did: a member changed, or an invitation sent.
type PutMemberResult struct {
	Member  *MemberView
	Invited bool
}

// RequestView is a join request as lists show it.
type RequestView struct {
	Request       JoinRequest
	Email         string
	Name          string
	LicenseNumber string
	AccountID     string
}
