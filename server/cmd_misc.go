package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// cmdHealthcheck asks the local server's /healthz and fails unless it answers 200. A minimal
// container image has no curl, so its HEALTHCHECK runs this.
func cmdHealthcheck(ctx context.Context, args, env []string) error {
	cfg, _, err := loadConfig("healthcheck", args, env)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("ENTITLED_ADDR %q: %w", cfg.Addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	return nil
}

// cmdMail holds mail utilities; "mail test --to ADDRESS" queues a test letter through the outbox,
// which a running server then delivers: the way to check SMTP settings end to end.
func cmdMail(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		return usageError{"usage: entitled mail test --to ADDRESS"}
	}
	var to string // the recipient, --to ADDRESS or --to=ADDRESS
	var cfgArgs []string
	// Config flags and our own may be mixed: split ours out first.
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--to" || a == "-to" {
			if i+1 < len(args) {
				to = args[i+1]
				i++
			}
			continue
		}
		if v, ok := strings.CutPrefix(a, "--to="); ok {
			to = v
			continue
		}
		cfgArgs = append(cfgArgs, a)
	}
	if to == "" || !strings.Contains(to, "@") {
		return usageError{"usage: entitled mail test --to ADDRESS"}
	}
	cfg, _, err := loadConfig("mail test", cfgArgs, env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	store, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	bg, err := newJobs(cfg, store, log, prometheus.NewRegistry(), false)
	if err != nil {
		return err
	}
	letter, err := store.QueueTestLetter(ctx, bg.outbox, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "queued %s to %s\n", letter.MessageID, to)
	return nil
}
