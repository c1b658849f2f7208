package store

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkCheckDataVersion is one strict data_version check on SQLite: what every request's
// principal lookup pays so that another process's commit is seen at the next request.
func BenchmarkCheckDataVersion(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, OpenOptions{URL: "sqlite://" + filepath.Join(b.TempDir(), "dv.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.ListenForChanges(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.checkDataVersion(true)
	}
}
