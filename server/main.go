// Command entitled is the license and entitlement registration server. With no argument it
// serves; the other subcommands manage the schema, staff, API keys and signing keys.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		fmt.Fprintln(os.Stderr, "entitled:", err)
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake in the command line; it exits with status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

const usage = `usage: entitled [command]

commands:
  serve                      run migrations, then serve HTTP, the mail outbox and the schedulers (default)
  migrate up | status        apply the schema migrations, or list them
  staff add --email E --roles ops,renewals,support,superadmin
                             create or update a staff user; the password is read from standard input
  apikey create --name N --scopes orders:write,entitlements:introspect,renewals:read
                             print a new API key (shown once)
  mail test --to ADDRESS     queue a test letter through the outbox (checks the SMTP settings)
  renewals notify            one pass of the renewal-notice sweep (serve runs it daily); prints what it queued
  keys rotate [--purpose entitlement|license] [--now]
                             publish a new signing key; it signs after ENTITLED_JWKS_MAX_AGE (--now: at once)
  keys list                  list the signing keys with their states and times
  secret rotate              re-encrypt the signing keys from the old ENTITLED_SECRET (standard input) to the current one
  demo [--staff-email E] [--password-stdin]
                             seed a demo product, order and contracts and a renewals staff user; print what to try
  healthcheck                exit 0 when the local server answers /healthz (for container health checks)

Configuration comes from ENTITLED_* environment variables (see README.md); --addr, --base-url,
--data-dir, --database-url and --log-format override them.`

// run is the whole program: it parses the command, builds the configuration and runs it. It
// never calls os.Exit, so that tests can run it in-process.
func run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, args, env, stderr)
	case "migrate":
		return cmdMigrate(ctx, args, env, stdout, stderr)
	case "staff":
		return cmdStaff(ctx, args, env, stdin, stdout, stderr)
	case "apikey":
		return cmdAPIKey(ctx, args, env, stdout, stderr)
	case "mail":
		return cmdMail(ctx, args, env, stdout, stderr)
	case "renewals":
		return cmdRenewals(ctx, args, env, stdout, stderr)
	case "keys":
		return cmdKeys(ctx, args, env, stdout, stderr)
	case "secret":
		return cmdSecret(ctx, args, env, stdin, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args, env, stdin, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, args, env)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
}

// newLogger builds the process's logger from the configuration.
func newLogger(c Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
