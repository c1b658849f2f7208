package store

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"gorm.io/gorm"

	"entitled/models"
)

// translate maps the database's errors to coded ones and lets coded errors and nil through.
func TestTranslate(t *testing.T) {
	if translate(nil) != nil {
		t.Error("translate(nil) is not nil")
	}
	coded := &models.Error{Code: models.CodeLicenseNotFound, Message: "no such license"}
	if got := translate(coded); got != error(coded) {
		t.Errorf("translate(coded) = %v, want it unchanged", got)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for name, tc := range map[string]struct {
		err  error
		code string
		is   error
	}{
		"refused":   {refused, models.CodeUnavailable, syscall.ECONNREFUSED},
		"not found": {gorm.ErrRecordNotFound, models.CodeNotFound, gorm.ErrRecordNotFound},
		"duplicate": {gorm.ErrDuplicatedKey, models.CodeConflict, ErrUniqueViolation},
		"foreign":   {gorm.ErrForeignKeyViolated, models.CodeConflict, ErrForeignKeyViolation},
	} {
		got := translate(tc.err)
		e, ok := errors.AsType[*models.Error](got)
		if !ok || e.Code != tc.code || !errors.Is(got, tc.is) {
			t.Errorf("%s: translate = %#v, want code %s wrapping %v", name, got, tc.code, tc.is)
		}
	}
	if e, _ := errors.AsType[*models.Error](translate(refused)); e == nil || e.Message != "the database cannot be reached" {
		t.Errorf("an unreachable database says %v", e)
	}
	raw := errors.New("SQL logic error")
	if got := translate(raw); got != raw {
		t.Errorf("translate(an uncoded error) = %v, want it unchanged", got)
	}
}

// wrap gives an uncoded error the store's context and leaves coded errors as they are, so that a
// handler finds them with errors.As and answers their code and message.
func TestWrap(t *testing.T) {
	if wrap(nil, "do it") != nil {
		t.Error("wrap(nil) is not nil")
	}
	coded := &models.Error{Code: models.CodeLicenseNotFound, Message: "no such license"}
	if got := wrap(coded, "read a license"); got != error(coded) {
		t.Errorf("wrap(coded) = %v, want the same error", got)
	}
	joined := fmt.Errorf("somewhere: %w", coded)
	if got := wrap(joined, "read a license"); got != joined {
		t.Errorf("wrap(an error carrying a coded one) = %v, want it unchanged", got)
	}
	raw := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	got := wrap(raw, "place an order")
	if !strings.HasPrefix(got.Error(), "store: place an order: ") || !errors.Is(got, syscall.ECONNREFUSED) {
		t.Errorf("wrap(raw) = %v, want the store's context around the cause", got)
	}
	if _, ok := errors.AsType[*net.OpError](got); !ok {
		t.Error("errors.As no longer finds the cause")
	}
	if ErrorCode(got) != models.CodeUnavailable {
		t.Errorf("ErrorCode(wrapped refusal) = %s, want unavailable", ErrorCode(got))
	}
	var err error = raw
	func() { defer wrapErr(&err, "log in") }()
	if !strings.HasPrefix(err.Error(), "store: log in: ") {
		t.Errorf("wrapErr: %v", err)
	}
}
