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
	"runtime/debug"
	"strings"
	"syscall"

	"entitled/models"
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

const usage = `usage: entitled [command] [flags]

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
  backup --to FILE           write a consistent copy of the SQLite database to a new FILE while serving (PostgreSQL: pg_dump)
  migrate-data --from sqlite://PATH --to postgres://…
                             copy every table of a SQLite database into a new, empty PostgreSQL database
  healthcheck                exit 0 when the local server answers /healthz (for container health checks)
  version                    print the version and the VCS revision it was built from
  help [command]             print this, or a command's usage (also: entitled <command> --help)

Configuration comes from ENTITLED_* environment variables (see README.md); --addr, --base-url,
--data-dir, --database-url and --log-format override them.`

// run is the whole program: it parses the command, builds the configuration and runs it. It
// never calls os.Exit, so that tests can run it in-process.
func run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, named := "serve", false
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args, named = args[0], args[1:], true
	}
	if !named && len(args) > 0 && isVersionFlag(args[0]) {
		cmd = "version"
	}
	switch {
	case cmd == "help":
		// "entitled help" and "entitled help keys".
		topic := ""
		if len(args) > 0 {
			topic = args[0]
		}
		fmt.Fprintln(stdout, commandUsage(topic))
		return nil
	case cmd == "version":
		fmt.Fprintln(stdout, versionText(readBuildInfo()))
		return nil
	case wantsHelp(args):
		// "entitled --help", "entitled keys --help", "entitled keys rotate -h": usage, exit 0.
		if !named {
			fmt.Fprintln(stdout, usage)
		} else {
			fmt.Fprintln(stdout, commandUsage(cmd))
		}
		return nil
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
	case "backup":
		return cmdBackup(ctx, args, env, stdout, stderr)
	case "migrate-data":
		return cmdMigrateData(ctx, args, env, stdout, stderr)
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

// wantsHelp reports whether the command line asks for help: -h, -help or --help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func isVersionFlag(a string) bool { return a == "-version" || a == "--version" || a == "-v" }

// configFlags is the part of every command's usage that lists the configuration flags.
const configFlags = `configuration flags (each overrides its ENTITLED_* variable; see README.md):
  --addr ADDRESS             listen address (ENTITLED_ADDR, default :8080)
  --base-url URL             public URL (ENTITLED_BASE_URL, default http:// and the listen address)
  --data-dir DIR             data directory (ENTITLED_DATA_DIR, default ./data)
  --database-url URL         sqlite://PATH or postgres://… (ENTITLED_DATABASE_URL, default sqlite://<data dir>/entitled.db)
  --log-format text|json     log format (ENTITLED_LOG_FORMAT)`

// commandUsage is the usage of one command, for "entitled <command> --help"; an unknown or
// empty command gets the overall usage.
func commandUsage(cmd string) string {
	var u string
	switch cmd {
	case "serve":
		u = "usage: entitled [serve] [configuration flags]\n  run migrations, then serve HTTP, the mail outbox and the schedulers; SIGTERM/SIGINT drain and exit 0"
	case "migrate":
		u = "usage: entitled migrate up | status [configuration flags]\n  up: apply the schema migrations; status: list every migration and whether it is applied"
	case "staff":
		u = "usage: entitled staff add --email E --roles ops,renewals,support,superadmin [--name N] [configuration flags]\n" +
			"  create or update a staff user; the password is read from standard input; --roles \"\" removes staff rights"
	case "apikey":
		u = "usage: entitled apikey create --name N --scopes " + strings.Join(models.Scopes(), ",") + " [configuration flags]\n" +
			"  print a new API key once"
	case "mail":
		u = "usage: entitled mail test --to ADDRESS [configuration flags]\n  queue a test letter through the outbox; a running server delivers it"
	case "renewals":
		u = "usage: entitled renewals notify [configuration flags]\n  one pass of the renewal-notice sweep; prints each letter it queued and a summary"
	case "keys":
		u = keysUsage
	case "secret":
		u = "usage: entitled secret rotate [configuration flags]\n  the old ENTITLED_SECRET on standard input, the new one in ENTITLED_SECRET"
	case "demo":
		u = "usage: entitled demo [--staff-email E] [--password-stdin] [configuration flags]\n" +
			"  seed demo data once (a product, an order, contracts ending soon, a renewals staff user) and print what to try"
	case "healthcheck":
		u = "usage: entitled healthcheck [--addr ADDRESS]\n  exit 0 when the local server answers /healthz"
	case "backup":
		u = backupUsage
	case "migrate-data":
		u = migrateDataUsage
	case "version":
		return "usage: entitled version   (or entitled --version)\n  print the version and the VCS revision it was built from"
	default:
		return usage
	}
	return u + "\n\n" + configFlags
}

// readBuildInfo is debug.ReadBuildInfo, or nil when the binary carries none.
func readBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

// versionText is what "entitled version" prints: the module version, the VCS revision (with
// "+modified" when the tree had uncommitted changes), the commit time and the Go version.
func versionText(info *debug.BuildInfo) string {
	if info == nil {
		return "entitled (no build information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "entitled %s", version)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "\nrevision %s", rev)
		if settings["vcs.modified"] == "true" {
			b.WriteString("+modified")
		}
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " (%s)", t)
		}
	} else {
		b.WriteString("\nrevision unknown (built outside a git checkout, or with -buildvcs=false)")
	}
	if info.GoVersion != "" {
		fmt.Fprintf(&b, "\nbuilt with %s", info.GoVersion)
	}
	return b.String()
}
