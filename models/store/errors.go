package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"entitled/models"
)

// ErrorCode is the code an error carries, looking through wrapping. An error with no code is
// CodeUnavailable when it says the database cannot be reached, and CodeInternal otherwise.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *models.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if IsUnavailable(err) {
		return models.CodeUnavailable
	}
	if isUnstorableValue(err) {
		return models.CodeValidation
	}
	return models.CodeInternal
}

// isUnstorableValue reports whether PostgreSQL refused a value the client sent that it cannot
// store or compare (a NUL byte or invalid UTF-8 in text): the client's mistake, not a bug.
// SQLite stores such text as it is, so the same request is answered alike on both dialects only
// where a check refuses it first; this keeps the rest from becoming a 500.
func isUnstorableValue(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}

// IsUnavailable reports whether err says the database (or another dependency) could not be
// reached, as opposed to a bug: such errors are answered 503 so that a load balancer and the
// client retry, instead of 500.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var e *models.Error
	if errors.As(err, &e) && e.Code == models.CodeUnavailable {
		return true
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, driver.ErrBadConn),
		// pgx returns a bare io.ErrUnexpectedEOF when the server drops the connection in the
		// middle of a reply (an immediate shutdown, a crash, a cut network).
		errors.Is(err, io.ErrUnexpectedEOF),
		// …and "conn closed" for a statement (or COMMIT) on a connection it has already seen die.
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &connErr),
		errors.As(err, &netErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
		// cannot connect now; 53300: too many connections.
		c := pgErr.Code
		return len(c) == 5 && (c[:2] == "08" || c == "57P01" || c == "57P02" || c == "57P03" || c == "53300")
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() && !errors.Is(err, context.Canceled) {
		return true
	}
	return false
}

// wrap is what a service method returns for err: nil and coded errors (*models.Error, which go
// to the client as they are and which handlers find with errors.As) unchanged, and any other
// error wrapped with what the store was doing, so that the log line of a 500 says where it
// failed ("store: register a license: …"). The cause stays reachable with errors.Is and
// errors.As.
func wrap(err error, doing string) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*models.Error](err); ok {
		return err
	}
	return fmt.Errorf("store: %s: %w", doing, err)
}

// wrapErr is wrap for a service method's named error result, deferred at its top.
func wrapErr(err *error, doing string) { *err = wrap(*err, doing) }
