package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"entitled/models"
	dbstore "entitled/models/store"
)

// cmdStaff: "staff add --email E --roles r1,r2" creates or updates a staff user; the password is
// read from standard input (without echo on a terminal). An empty --roles removes staff rights.
func cmdStaff(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"usage: entitled staff add --email E --roles ops,renewals,support,superadmin [--name N] (password on standard input)"}
	}
	fs := flag.NewFlagSet("staff add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "the staff member's email")
	roles := fs.String("roles", "", "comma-separated staff roles; empty removes staff rights")
	name := fs.String("name", "", "display name (new users)")
	cfgArgs, err := parseOwnFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if *email == "" {
		return usageError{"staff add: --email is required"}
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	return withIdentity(ctx, "staff add", cfgArgs, env, stderr, func(store *dbstore.Store, id *dbstore.Identity) error {
		u, created, err := id.PutStaff(ctx, models.StaffInput{Email: *email, Name: *name, Roles: splitList(*roles), Password: password},
			models.SystemActor("cli:staff add"))
		if err != nil {
			return describe(err)
		}
		verb := "updated"
		if created {
			verb = "created"
		}
		fmt.Fprintf(stdout, "%s staff %s with roles [%s]\n", verb, u.Email, strings.Join(u.Roles(), ","))
		return nil
	})
}

// cmdAPIKey: "apikey create --name N --scopes s1,s2" prints a new API key, once.
func cmdAPIKey(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: entitled apikey create --name N --scopes " + strings.Join(models.Scopes(), ",")}
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "what the key is for")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	cfgArgs, err := parseOwnFlags(fs, args[1:])
	if err != nil {
		return err
	}
	return withIdentity(ctx, "apikey create", cfgArgs, env, stderr, func(store *dbstore.Store, id *dbstore.Identity) error {
		k, secret, err := id.CreateAPIKey(ctx, *name, splitList(*scopes), models.SystemActor("cli:apikey create"))
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stderr, "API key %d %q with scopes [%s]; it is shown only now:\n", k.ID, k.Name, k.Scopes)
		fmt.Fprintln(stdout, secret)
		return nil
	})
}

// withIdentity opens the store (migrating it) and hands fn the identity service. Letters that
// commands cause are queued for a running server to deliver.
func withIdentity(ctx context.Context, name string, cfgArgs, env []string, stderr io.Writer, fn func(*dbstore.Store, *dbstore.Identity) error) error {
	return withCommand(ctx, name, name+": unexpected arguments", cfgArgs, env, stderr, func(c commandEnv) error {
		return fn(c.store, dbstore.NewIdentity(c.store, c.jobs.outbox, c.cfg.BaseURL))
	})
}

// commandEnv is what a one-shot command works with: the configuration, a migrated store and an
// insert-only job client (letters it queues are delivered by a running server).
type commandEnv struct {
	cfg   Config
	log   *slog.Logger
	store *dbstore.Store
	jobs  *jobs
}

// withCommand reads the configuration from cfgArgs and env (arguments left over are a usage
// error that says noArgs), opens and migrates the store, and runs fn; the store is closed
// afterwards.
func withCommand(ctx context.Context, name, noArgs string, cfgArgs, env []string, stderr io.Writer, fn func(commandEnv) error) error {
	cfg, log, err := loadCommandConfig(name, cfgArgs, env, stderr, noArgs)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	bg, err := newJobs(cfg, store, log, nil, false)
	if err != nil {
		return err
	}
	return fn(commandEnv{cfg: cfg, log: log, store: store, jobs: bg})
}

// parseOwnFlags parses the command's own flags out of args and returns the rest, which are the
// configuration flags (--database-url, …) that loadConfig reads.
func parseOwnFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var own, rest []string
	for i := 0; i < len(args); i++ {
		name := strings.TrimLeft(args[i], "-")
		name, _, hasValue := strings.Cut(name, "=")
		if fs.Lookup(name) == nil {
			rest = append(rest, args[i])
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				rest = append(rest, args[i+1])
				i++
			}
			continue
		}
		own = append(own, args[i])
		if !hasValue && i+1 < len(args) {
			own = append(own, args[i+1])
			i++
		}
	}
	if err := fs.Parse(own); err != nil {
		return nil, usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	return rest, nil
}

// readPassword reads one line from stdin; on a terminal it prompts and does not echo.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// describe turns a validation error into a message for the console, field by field.
func describe(err error) error {
	var e *models.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		var b strings.Builder
		b.WriteString(e.Message)
		for _, f := range e.Fields {
			fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Detail)
		}
		return errors.New(b.String())
	}
	return err
}
