package store

import "testing"

// A PostgreSQL URL without connect_timeout gets the default, so that a host that drops packets
// fails start-up instead of hanging on the connect; one that sets it keeps its own, and nothing
// else of the URL changes.
func TestPostgresDSNAddsAConnectTimeout(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/test":                      "postgres://postgres@127.0.0.1:5432/test?connect_timeout=10",
		"postgres://u:p%40ss@db:5432/e?sslmode=disable":                "postgres://u:p%40ss@db:5432/e?sslmode=disable&connect_timeout=10",
		"postgresql://db/e?":                                           "postgresql://db/e?connect_timeout=10",
		"postgres://db/e?connect_timeout=3&sslmode=require":            "postgres://db/e?connect_timeout=3&sslmode=require",
		"postgres://h1:5432,h2:5432/e?target_session_attrs=read-write": "postgres://h1:5432,h2:5432/e?target_session_attrs=read-write&connect_timeout=10",
	} {
		if got := postgresDSN(in); got != want {
			t.Errorf("postgresDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
