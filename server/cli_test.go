package main

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// "migrate status" on a fresh database lists every migration, ours and the job queue's, as
// pending; after "migrate up" it lists them all as applied and "0 pending".
func TestMigrateStatusBeforeAndAfterUp(t *testing.T) {
	eachDialectInParallel(t, func(t *testing.T, d dbstore.Dialect) {
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d)}

		before := migrationRows(t, mustCLI(t, s, "", "migrate", "status"))
		if len(before.rows) == 0 {
			t.Fatalf("migrate status lists no migrations")
		}
		for _, r := range before.rows {
			if r.state != "pending" {
				t.Errorf("fresh database: %s migration %s is %s, want pending", r.source, r.version, r.state)
			}
		}
		if before.pending != len(before.rows) {
			t.Errorf("fresh database: %d pending, want %d (every migration)", before.pending, len(before.rows))
		}
		if sources := before.sources(); !slices.Equal(sources, []string{"entitled", "river"}) {
			t.Errorf("migrations come from %q, want entitled and river", sources)
		}

		if out := mustCLI(t, s, "", "migrate", "up"); !strings.Contains(out, "up to date") {
			t.Errorf("migrate up printed %q", out)
		}

		after := migrationRows(t, mustCLI(t, s, "", "migrate", "status"))
		if len(after.rows) != len(before.rows) {
			t.Errorf("after up: %d migrations listed, before %d", len(after.rows), len(before.rows))
		}
		for _, r := range after.rows {
			if r.state != "applied" {
				t.Errorf("after up: %s migration %s is %s, want applied", r.source, r.version, r.state)
			}
		}
		if after.pending != 0 {
			t.Errorf("after up: %d pending, want 0", after.pending)
		}
	})
}

type migrationRow struct{ source, version, state string }

type migrationTable struct {
	rows    []migrationRow
	pending int
}

func (m migrationTable) sources() []string {
	var s []string
	for _, r := range m.rows {
		if !slices.Contains(s, r.source) {
			s = append(s, r.source)
		}
	}
	slices.Sort(s)
	return s
}

// migrationRows reads the table "migrate status" prints: a header, one row per migration
// (SOURCE VERSION STATE …), and a last line "N pending".
func migrationRows(t *testing.T, out string) migrationTable {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "SOURCE") {
		t.Fatalf("migrate status printed no table:\n%s", out)
	}
	var m migrationTable
	last := regexp.MustCompile(`^(\d+) pending$`).FindStringSubmatch(lines[len(lines)-1])
	if last == nil {
		t.Fatalf("migrate status does not end with \"N pending\":\n%s", out)
	}
	for _, line := range lines[1 : len(lines)-1] {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("migrate status row %q has too few columns", line)
		}
		m.rows = append(m.rows, migrationRow{source: f[0], version: f[1], state: f[2]})
	}
	m.pending, _ = strconv.Atoi(last[1])
	return m
}

// A command line that names no known command or subcommand exits 2 and says how to use it.
func TestUnknownCommandIsAUsageError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string // in the message
	}{
		{[]string{"frobnicate"}, "usage: entitled"},
		{[]string{"migrate"}, "usage: entitled migrate up | status"},
		{[]string{"migrate", "sideways"}, "want up or status"},
		{[]string{"staff", "remove", "--email", "a@example.test"}, "usage: entitled staff add"},
		{[]string{"apikey", "revoke"}, "usage: entitled apikey create"},
		{[]string{"mail", "send"}, "usage: entitled mail test"},
		{[]string{"serve", "now"}, "serve takes no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			s := setup{DataDir: t.TempDir()}
			stdout, _, err := cli(t, s, "", tc.args...)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("error %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q does not contain %q", err, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	// The binary turns a usage error into exit status 2 with the message on stderr.
	t.Run("binary exit status", func(t *testing.T) {
		t.Parallel()
		p := startProcess(t, setup{DataDir: t.TempDir()}, "frobnicate")
		if code := p.waitExit(startTimeout); code != 2 {
			t.Errorf("exit status %d, want 2", code)
		}
		if out := p.out.String(); !strings.Contains(out, "unknown command \"frobnicate\"") || !strings.Contains(out, "usage: entitled") {
			t.Errorf("output does not name the command and show the usage:\n%s", out)
		}
	})
}

// "staff add" creates a verified staff user with the roles given and the password read from
// standard input; run again it updates the roles, and an empty --roles removes them all.
func TestStaffAdd(t *testing.T) {
	eachDialectInParallel(t, func(t *testing.T, d dbstore.Dialect) {
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d)}
		const email, password = "ops@example.test", "quartz-lantern-58-orbit"

		out := mustCLI(t, s, password+"\n", "staff", "add", "--email", "Ops@Example.test", "--roles", "ops,renewals")
		if !strings.Contains(out, "created staff "+email) {
			t.Errorf("staff add printed %q", out)
		}
		store := openDB(t, s.DatabaseURL)
		u := staffUser(t, store, email)
		if got := sorted(u.Roles()); !slices.Equal(got, []string{"ops", "renewals"}) {
			t.Errorf("roles %q, want ops and renewals", got)
		}
		if !u.Verified() {
			t.Errorf("a staff user made at the console is not verified")
		}
		id := dbstore.NewIdentity(store, nil, "http://x")
		if _, err := id.Login(context.Background(), email, password, "127.0.0.1", "test"); err != nil {
			t.Errorf("log in with the password given on stdin: %v", err)
		}

		out = mustCLI(t, s, "", "staff", "add", "--email", email, "--roles", "")
		if !strings.Contains(out, "updated staff "+email) {
			t.Errorf("second staff add printed %q", out)
		}
		if u := staffUser(t, store, email); len(u.Roles()) != 0 {
			t.Errorf("after --roles \"\": roles %q, want none", u.Roles())
		}
		if _, err := id.Login(context.Background(), email, password, "127.0.0.1", "test"); err != nil {
			t.Errorf("an update without a password changed it: %v", err)
		}
	})
}

// "staff add" refuses bad input with a message naming what is wrong, and creates nobody.
func TestStaffAddRefusesBadInput(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, dbstore.SQLite)}
	for _, tc := range []struct {
		name      string
		args      []string
		stdin     string
		wantUsage bool
		want      []string // in the message
	}{
		{"password too short", []string{"--email", "a@example.test", "--roles", "ops"}, "short\n", false, []string{"password", "at least 12"}},
		{"no password for a new user", []string{"--email", "a@example.test", "--roles", "ops"}, "", false, []string{"password", "required"}},
		{"unknown role", []string{"--email", "a@example.test", "--roles", "ops,janitor"}, "quartz-lantern-58-orbit\n", false, []string{"roles[1]"}},
		{"bad email", []string{"--email", "not-an-email", "--roles", "ops"}, "quartz-lantern-58-orbit\n", false, []string{"email"}},
		{"no email", []string{"--roles", "ops"}, "quartz-lantern-58-orbit\n", true, []string{"--email is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := cli(t, s, tc.stdin, append([]string{"staff", "add"}, tc.args...)...)
			if err == nil {
				t.Fatalf("staff add succeeded, printing %q", stdout)
			}
			var u usageError
			if errors.As(err, &u) != tc.wantUsage {
				t.Errorf("usage error = %v, want %v (%v)", !tc.wantUsage, tc.wantUsage, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not mention %q", err, w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	store := openDB(t, s.DatabaseURL)
	var n int64
	if err := storetest.Gorm(t, store).Model(&models.User{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d users exist after refused commands, want 0", n)
	}
}

// "apikey create" prints the new key, and only the key, on standard output; the key
// authenticates with the scopes it was given. Unknown scopes are refused.
func TestAPIKeyCreate(t *testing.T) {
	eachDialectInParallel(t, func(t *testing.T, d dbstore.Dialect) {
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d)}

		out := mustCLI(t, s, "", "apikey", "create", "--name", "order system", "--scopes", "orders:write")
		m := regexp.MustCompile(`^(ek_[A-Za-z0-9_-]+)\n$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("stdout %q, want exactly one ek_… key and a newline", out)
		}
		key := m[1]

		store := openDB(t, s.DatabaseURL)
		p, err := dbstore.NewIdentity(store, nil, "http://x").Authenticate(context.Background(), key)
		if err != nil {
			t.Fatalf("the printed key does not authenticate: %v", err)
		}
		if p.Kind != models.PrincipalAPIKey || p.APIKeyName != "order system" {
			t.Errorf("principal %+v, want the API key \"order system\"", p)
		}
		if !p.HasScope(models.ScopeOrdersWrite) || p.HasScope(models.ScopeRenewalsRead) {
			t.Errorf("scopes %q, want exactly orders:write", p.Scopes)
		}
	})

	s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, dbstore.SQLite)}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the message
	}{
		{"unknown scope", []string{"--name", "n", "--scopes", "orders:write,orders:delete"}, "scopes[1]"},
		{"no scope", []string{"--name", "n"}, "scopes"},
		{"no name", []string{"--scopes", "orders:write"}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := cli(t, s, "", append([]string{"apikey", "create"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func staffUser(t *testing.T, store *dbstore.Store, email string) models.User {
	t.Helper()
	var u models.User
	if err := storetest.Gorm(t, store).Where("email = ?", email).Take(&u).Error; err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
