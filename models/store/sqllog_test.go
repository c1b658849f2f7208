package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// At debug level the store logs each statement's SQL text, never the values bound to it; at any
// other level it logs none.
func TestSQLLog_StatementsWithoutTheirValues(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		var buf bytes.Buffer
		level := new(slog.LevelVar)
		level.Set(slog.LevelInfo)
		s := storetest.OpenWith(t, d, store.OpenOptions{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))})
		ctx := context.Background()
		identity := store.NewIdentity(s, nil, "http://x")
		if _, _, err := identity.CreateAPIKey(ctx, "quiet key", []string{models.ScopeOrdersWrite}, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "sql statement") {
			t.Fatalf("at info level the store logged statements:\n%s", buf.String())
		}
		level.Set(slog.LevelDebug)
		const secret = "very-secret-key-name"
		if _, _, err := identity.CreateAPIKey(ctx, secret, []string{models.ScopeOrdersWrite}, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, "sql statement") || !strings.Contains(strings.ToLower(out), "insert into") {
			t.Fatalf("at debug level the store logged no INSERT:\n%s", out)
		}
		if strings.Contains(out, secret) {
			t.Errorf("the SQL log carries a bound value:\n%s", out)
		}
	})
}
