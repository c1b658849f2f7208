package models

import "strings"

// Codes of account errors.
const (
	CodeAccountNotFound = "account_not_found"
	CodeOrderRefTaken   = "order_ref_taken"
)

// RecoveryLettersPerHour caps account-recovery letters to one address.
const RecoveryLettersPerHour = 3

// ParseAccountID checks the shape of an Account ID: 7 digits, the first not 0.
func ParseAccountID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 7 || s[0] < '1' || s[0] > '9' {
		return "", false
	}
	for i := 1; i < 7; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// AccountPatch changes an account; nil fields stay as they are.
type AccountPatch struct {
	Name         *string
	ContactName  *string
	ContactEmail *string
	IfMatch      string // the caller's If-Match header ("" when none)
}
