package models

import "errors"

// errorCode is the code of a coded error, for the tests of the pure rules: store.ErrorCode also
// classifies the database's own errors, which no rule here returns.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
