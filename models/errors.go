package models

import (
	"fmt"
	"time"
)

// Error codes that callers rely on. They are part of the API contract: clients read them from the
// "code" member of a problem+json answer, so a code is never renamed once published. The HTTP
// status of each lives in one place, handlers/problem.go.
const (
	CodeInternal          = "internal"
	CodeUnavailable       = "unavailable"
	CodeNotFound          = "not_found"
	CodeConflict          = "conflict"
	CodeValidation        = "validation_failed"
	CodeMalformedJSON     = "malformed_json"
	CodeBodyTooLarge      = "body_too_large"
	CodeUnauthenticated   = "unauthenticated"
	CodeForbidden         = "forbidden"
	CodeMethodNotAllowed  = "method_not_allowed"
	CodeTooManyAttempts   = "too_many_attempts"
	CodeSchemaBehind      = "schema_behind"
	CodeUnsupportedMedia  = "unsupported_media_type"
	CodeNotAcceptable     = "not_acceptable"
	CodeIdempotencyReused = "idempotency_key_reused"
	CodeIdempotencyBusy   = "idempotency_in_progress"
	// CodePreconditionFailed: an If-Match header no longer matches the resource's ETag.
	CodePreconditionFailed = "precondition_failed"
)

// Codes of second-factor errors.
const (
	// CodeMFARequired: the password was right, and the account has a second factor: finish the
	// sign-in at /v1/auth/login/mfa with the mfa_token of the answer.
	CodeMFARequired = "mfa_required"
	// CodeInvalidMFACode: the TOTP or recovery code is wrong, or was used already.
	CodeInvalidMFACode = "invalid_mfa_code"
	// CodeMFATokenInvalid: the mfa_token is unknown, expired, used, or out of tries.
	CodeMFATokenInvalid = "mfa_token_invalid"
	// CodeMFAEnrolmentRequired: ENTITLED_STAFF_MFA=required and this staff user with a password
	// has no second factor yet; only enrolment, /v1/me and logout answer until they add one.
	CodeMFAEnrolmentRequired = "mfa_enrolment_required"
)

// Field-level validation codes, the "code" of an entry of errors[].
const (
	FieldRequired = "required"
	FieldInvalid  = "invalid"
	FieldTooShort = "too_short"
	FieldTooLong  = "too_long"
	FieldType     = "invalid_type"
	// FieldTrialIsStandard: a trial's support is always standard, without premier (orders and
	// upgrades).
	FieldTrialIsStandard = "trial_is_standard"
)

// Error is the one error type that crosses the boundary between the domain and its callers. Code is
// stable and machine-readable, Message is safe to show to the caller, Fields lists every failing
// input field of a validation error. Err keeps the cause for logs; it is never shown.
type Error struct {
	Code       string
	Message    string
	Fields     []FieldError
	RetryAfter time.Duration // with CodeTooManyAttempts: how long the caller should wait
	// InBody marks a missing thing that the request named inside its body (an order's account)
	// rather than as its target: the request is well-formed but cannot be processed (HTTP 422).
	InBody bool
	Err    error
}

// FieldError names one failing field by its JSON path in the request body ("items[0].sku").
type FieldError struct {
	Field  string `json:"field"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes a coded error with a message safe to show.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validation collects field errors and yields one validation_failed error with all of them, so
// that a client learns every problem of its request at once.
type Validation struct {
	Fields []FieldError
}

// Add records that field failed with code; detail says how, in words.
func (v *Validation) Add(field, code, detail string) {
	v.Fields = append(v.Fields, FieldError{Field: field, Code: code, Detail: detail})
}

// Required records a required-field error when value is empty, and reports whether it was present.
func (v *Validation) Required(field, value string) bool {
	if value == "" {
		v.Add(field, FieldRequired, "is required")
		return false
	}
	return true
}

// Err is nil when no field failed, and a validation_failed *Error otherwise.
func (v *Validation) Err() error {
	if len(v.Fields) == 0 {
		return nil
	}
	return &Error{Code: CodeValidation, Message: "the request has invalid fields", Fields: v.Fields}
}
