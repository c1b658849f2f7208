package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
)

// newKeyring opens the signing keys with the configured secret and makes sure each purpose has
// an active key.
func newKeyring(ctx context.Context, cfg Config, store *dbstore.Store, log *slog.Logger) (*dbstore.Keyring, error) {
	keys, err := dbstore.NewKeyring(store, models.KeyringOptions{Secret: string(cfg.Secret), MaxAge: cfg.JWKSMaxAge, TokenTTL: cfg.TokenTTL, Log: log})
	if err != nil {
		return nil, err
	}
	if err := keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}

// newTokens wires the key ring and the entitlement-token service.
func newTokens(ctx context.Context, cfg Config, store *dbstore.Store, log *slog.Logger) (*dbstore.Keyring, *dbstore.Tokens, error) {
	keys, err := newKeyring(ctx, cfg, store, log)
	if err != nil {
		return nil, nil, err
	}
	tokens, err := dbstore.NewTokens(store, keys, models.TokensOptions{Issuer: cfg.BaseURL, TTL: cfg.TokenTTL, Audiences: cfg.TokenAudiences,
		RenewalWindowDays: cfg.RenewalWindowDays, StatusListTTL: time.Duration(cfg.StatusListTTL) * time.Second, Log: log})
	if err != nil {
		return nil, nil, err
	}
	return keys, tokens, nil
}

// withKeys opens the store (migrating it) and the key ring for a keys command.
func withKeys(ctx context.Context, cfgArgs, env []string, stderr io.Writer, fn func(*dbstore.Keyring) error) error {
	cfg, log, err := loadCommandConfig("keys", cfgArgs, env, stderr, "unexpected arguments")
	if err != nil {
		return err
	}
	if err := cfg.ensureSecret(log); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := newKeyring(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	return fn(keys)
}

const keysUsage = `usage: entitled keys rotate [--purpose entitlement|license] [--now]
       entitled keys retire --kid KID
       entitled keys list`

// cmdKeys: "keys rotate" publishes a new signing key (it signs after ENTITLED_JWKS_MAX_AGE, or
// at once with --now); "keys retire" unpublishes a compromised key at once; "keys list" shows
// every key with its state and times.
func cmdKeys(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{keysUsage}
	}
	switch args[0] {
	case "rotate":
		fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		purpose := fs.String("purpose", models.PurposeEntitlement, "entitlement or license")
		now := fs.Bool("now", false, "sign with the new key at once (a compromised key)")
		cfgArgs, err := parseOwnFlags(fs, args[1:])
		if err != nil {
			return err
		}
		return withKeys(ctx, cfgArgs, env, stderr, func(keys *dbstore.Keyring) error {
			k, err := keys.Rotate(ctx, *purpose, *now, models.SystemActor("cli:keys rotate"))
			if err != nil {
				return describe(err)
			}
			if k.State == models.KeyActive {
				fmt.Fprintf(stdout, "%s key %s is active now; the key it replaces is retiring\n", k.Purpose, k.Kid)
			} else {
				fmt.Fprintf(stdout, "%s key %s is published and signs from %s (after ENTITLED_JWKS_MAX_AGE=%s)\n",
					k.Purpose, k.Kid, k.ActivatesAt.UTC().Format(time.RFC3339), keys.MaxAge())
			}
			return nil
		})
	case "retire":
		fs := flag.NewFlagSet("keys retire", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		kid := fs.String("kid", "", "the key to unpublish (entitled keys list shows the kids)")
		cfgArgs, err := parseOwnFlags(fs, args[1:])
		if err != nil {
			return err
		}
		if *kid == "" {
			return usageError{"keys retire: name the key with --kid\n" + keysUsage}
		}
		return withKeys(ctx, cfgArgs, env, stderr, func(keys *dbstore.Keyring) error {
			k, successor, err := keys.Retire(ctx, *kid, models.SystemActor("cli:keys retire"))
			if err != nil {
				return describe(err)
			}
			if successor != nil {
				fmt.Fprintf(stdout, "%s key %s is active now in place of the retired one\n", successor.Purpose, successor.Kid)
			}
			fmt.Fprintf(stdout, "%s key %s is retired: it is no longer published, and nothing it signed verifies\n", k.Purpose, k.Kid)
			return nil
		})
	case "list":
		cfgArgs, err := parseOwnFlags(flag.NewFlagSet("keys list", flag.ContinueOnError), args[1:])
		if err != nil {
			return err
		}
		return withKeys(ctx, cfgArgs, env, stderr, func(keys *dbstore.Keyring) error {
			list, err := keys.Keys(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "KID\tPURPOSE\tSTATE\tPUBLISHED\tSIGNS FROM\tSTOPPED SIGNING\tUNPUBLISH AFTER\tRETIRED")
			for _, k := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Kid, k.Purpose, k.State, stamp(&k.CreatedAt), stamp(&k.ActivatesAt),
					stamp(k.RetiringAt), retireAfter(k), stamp(k.RetiredAt))
			}
			return w.Flush()
		})
	}
	return usageError{fmt.Sprintf("unknown keys command %q\n%s", args[0], keysUsage)}
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func retireAfter(k models.SigningKey) string {
	if k.State == models.KeyRetiring && k.RetireAfter == nil {
		return "when its license keys are released"
	}
	return stamp(k.RetireAfter)
}

// cmdSecret: "secret rotate" re-encrypts every signing key from the old ENTITLED_SECRET (read
// from standard input) to the current one, in one transaction.
func cmdSecret(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usageError{"usage: entitled secret rotate   (the old ENTITLED_SECRET on standard input; the new one in ENTITLED_SECRET)"}
	}
	cfg, log, err := loadCommandConfig("secret rotate", args[1:], env, stderr, "unexpected arguments")
	if err != nil {
		return err
	}
	if cfg.Secret == "" {
		return usageError{"secret rotate: set ENTITLED_SECRET to the new secret (the old one goes on standard input)"}
	}
	if err := cfg.ensureSecret(log); err != nil {
		return err
	}
	old, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	old = strings.TrimSpace(old)
	if old == "" {
		return usageError{"secret rotate: give the old secret on standard input"}
	}
	store, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := dbstore.ReencryptKeys(ctx, store, old, string(cfg.Secret), models.SystemActor("cli:secret rotate"))
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "re-encrypted %d signing keys to the current ENTITLED_SECRET\n", n)
	return nil
}
