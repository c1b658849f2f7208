package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// "entitled backup --to FILE" taken while a stream of orders is placed: the copy passes
// integrity_check, holds every order answered 201 before the backup started, and a server started
// on it serves them (with the sessions and signing keys it holds). An existing FILE is never
// overwritten; on PostgreSQL the command says to use pg_dump and fails.
func TestBackupWhileOrdersStream(t *testing.T) {
	t.Parallel()
	s, _, token, apiKey := sqliteSeed(t)
	p := startServer(t, s)
	backup := filepath.Join(t.TempDir(), "entitled-backup.db")

	var (
		mu        sync.Mutex
		committed []string // order refs answered 201, in order
		failures  []string
	)
	stop := make(chan struct{})
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, out, err := call(t, p.URL(), "POST", "/v1/orders", apiKey, faultOrder("BK", i))
			mu.Lock()
			if err == nil && status == http.StatusCreated {
				committed = append(committed, fmt.Sprintf("BK-%d", i))
			} else {
				failures = append(failures, fmt.Sprintf("order BK-%d: %d %v %v", i, status, out, err))
			}
			mu.Unlock()
		}
	}()
	placed := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), committed...)
	}
	eventually(t, 60*time.Second, "10 orders placed", func() bool { return len(placed()) >= 10 })

	before := placed() // every one of these committed before the backup began
	b := startProcess(t, s, "backup", "--to", backup)
	if code := b.waitExit(2 * time.Minute); code != 0 {
		t.Fatalf("backup exited with %d:\n%s", code, b.out.String())
	}
	if !strings.Contains(b.out.String(), "integrity_check ok") {
		t.Errorf("backup printed %q, want it to say the copy passed integrity_check", b.out.String())
	}
	afterBackup := len(placed())
	eventually(t, 60*time.Second, "more orders after the backup", func() bool { return len(placed()) >= afterBackup+3 })
	close(stop)
	<-streamDone
	if len(failures) > 0 {
		t.Errorf("%d orders failed while the backup ran, e.g. %s", len(failures), failures[0])
	}
	t.Logf("%d orders placed; %d answered before the backup began, %d by the time it ended", len(placed()), len(before), afterBackup)

	// The copy is a sound database holding every order committed before the backup.
	if accounts := integrityOK(t, backup, "BK"); accounts < len(before) {
		t.Errorf("the backup holds %d of the orders' accounts, want at least the %d committed before it began", accounts, len(before))
	}
	bdb := openDB(t, "sqlite://"+backup)
	inBackup := map[string]bool{}
	rows, err := bdb.SQLDB().Query(`SELECT order_ref FROM orders WHERE order_ref LIKE 'BK-%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			t.Fatal(err)
		}
		inBackup[ref] = true
	}
	rows.Close()
	for _, ref := range before {
		if !inBackup[ref] {
			t.Errorf("order %s was committed before the backup began but is not in it", ref)
		}
	}
	if len(inBackup) >= len(placed()) {
		t.Errorf("the backup holds %d orders, but %d were placed in all, some after it ended", len(inBackup), len(placed()))
	}
	bdb.Close()

	// A second backup to the same file is refused and leaves the file as it was.
	info, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	again := startProcess(t, s, "backup", "--to", backup)
	if code := again.waitExit(time.Minute); code == 0 || !strings.Contains(again.out.String(), "exists already") {
		t.Errorf("a backup onto an existing file exited %d with %q, want a refusal saying it exists", code, again.out.String())
	}
	if now, err := os.Stat(backup); err != nil || now.ModTime() != info.ModTime() || now.Size() != info.Size() {
		t.Errorf("the refused backup changed the existing file")
	}

	// A server started on the copy (with the same secret) serves the orders: each one committed
	// before the backup is known there (placing it again is refused as a repeat), and a new
	// one is taken. The renewal representative's session, copied with it, still works.
	restored := setup{DataDir: t.TempDir(), DatabaseURL: "sqlite://" + backup, Secret: readSecret(t, filepath.Join(s.DataDir, "secret"))}
	rp := startServer(t, restored)
	for _, i := range []int{0, len(before) / 2, len(before) - 1} {
		status, out, err := call(t, rp.URL(), "POST", "/v1/orders", apiKey, faultOrder("BK", i))
		if err != nil || status != http.StatusConflict || out["code"] != "order_ref_taken" {
			t.Errorf("order %s again on the server on the backup: %d %v %v, want 409 order_ref_taken", before[i], status, out, err)
		}
	}
	mustCall(t, rp.URL(), "POST", "/v1/orders", apiKey, faultOrder("RESTORED", 1), http.StatusCreated)
	var contracts struct {
		Items []map[string]any `json:"items"`
	}
	getJSON(t, rp.URL()+"/v1/contracts", token, &contracts)
	if len(contracts.Items) == 0 {
		t.Errorf("the server on the backup lists no contracts")
	}
	if code, body := rp.get("/.well-known/jwks.json"); code != http.StatusOK || !strings.Contains(body, `"kid"`) {
		t.Errorf("the server on the backup answers the JWKS with %d %s", code, body)
	}
}

// On PostgreSQL, "entitled backup" names pg_dump and fails without writing anything.
func TestBackupOnPostgreSQLSaysUsePgDump(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir(), DatabaseURL: postgresURL(t), Secret: testSecret}
	file := filepath.Join(t.TempDir(), "pg.backup")
	p := startProcess(t, s, "backup", "--to", file)
	if code := p.waitExit(time.Minute); code == 0 {
		t.Errorf("backup on PostgreSQL exited 0, want a failure")
	}
	if out := p.out.String(); !strings.Contains(out, "pg_dump --format=custom") || !strings.Contains(out, "pg_restore") {
		t.Errorf("backup on PostgreSQL printed %q, want the pg_dump and pg_restore commands", out)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("backup on PostgreSQL left %s (%v)", file, err)
	}
	// Without --to it is a usage error (status 2).
	_, _, err := cli(t, s, "", "backup")
	if _, ok := err.(usageError); !ok {
		t.Errorf("backup without --to: %v, want a usage error", err)
	}
}

// A backup of a database that is not there (a wrong --data-dir) fails and creates neither the
// database nor the backup: opening it would have made an empty one to "back up".
func TestBackupOfAMissingDatabaseFails(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	file := filepath.Join(t.TempDir(), "missing.backup")
	_, _, err := cli(t, s, "", "backup", "--to", file)
	if err == nil || !strings.Contains(err.Error(), "entitled.db") {
		t.Fatalf("backup of a data dir without a database: %v, want an error naming the database", err)
	}
	for _, f := range []string{file, filepath.Join(s.DataDir, "entitled.db")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("the failed backup left %s (%v)", f, err)
		}
	}
}
