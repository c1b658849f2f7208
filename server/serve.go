package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"

	"entitled/handlers"
	"entitled/handlers/sso"
	"entitled/mailer"
	dbstore "entitled/models/store"
	"entitled/webhooks"
)

// openStore opens the configured database and, when migrate is set, brings its schema up to date.
func openStore(ctx context.Context, cfg Config, log *slog.Logger, migrate bool) (*dbstore.Store, error) {
	store, err := dbstore.Open(ctx, dbstore.OpenOptions{URL: cfg.DatabaseURL, Logger: log, MaxConns: cfg.DBMaxConns})
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", Secret(cfg.DatabaseURL), err)
	}
	if migrate {
		if err := store.Migrate(ctx); err != nil {
			store.Close()
			return nil, err
		}
	}
	return store, nil
}

// jobs is the background machinery: River's client with its workers, sharing the store's pool.
type jobs struct {
	client  *river.Client[*sql.Tx]
	outbox  *mailer.Outbox
	workers *river.Workers // nil for an insert-only client
}

// newJobs builds the River client. With work set it also runs workers (serve); without, it only
// inserts (CLI commands that queue a letter).
func newJobs(cfg Config, store *dbstore.Store, log *slog.Logger, reg prometheus.Registerer, work bool) (*jobs, error) {
	renderer, err := mailer.NewRenderer(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	rc := &river.Config{
		Logger: slog.New(levelAtLeast{log.Handler(), slog.LevelWarn}).With("component", "river"),
		// Finished jobs (sent letters) are kept a day for inspection, then River's cleaner prunes
		// them: a letter's job holds its text, links with single-use tokens included, so it
		// should not outlive the tokens by much.
		CompletedJobRetentionPeriod: 24 * time.Hour,
		// A worker that died mid-send, or a process killed before River recorded its jobs
		// completed (it does so in batches), leaves jobs running; they are retried after this.
		// The mail worker's sent log (mailer.SentLog) keeps a rescued letter that the mail server
		// had accepted from going out again; only one accepted in the instant before its row was
		// written is sent again, with the same Message-ID.
		RescueStuckJobsAfter: 5 * time.Minute,
		FetchPollInterval:    cfg.JobPollInterval,
		ID:                   riverClientID(),
	}
	var workers *river.Workers
	if err := mailer.CheckFrom(cfg.MailFrom); err != nil {
		return nil, fmt.Errorf("ENTITLED_MAIL_FROM: %w", err)
	}
	if work {
		transport, err := mailer.NewTransport(string(cfg.SMTPURL), cfg.mailDir())
		if err != nil {
			return nil, fmt.Errorf("ENTITLED_SMTP_URL: %w", err)
		}
		if ft, ok := transport.(*mailer.FileTransport); ok {
			ft.Log = log.With("component", "mailer") // no SMTP: say where each letter lands
		}
		metrics := mailer.NewMetrics(reg)
		reg.MustRegister(mailer.QueueDepth(store.SQLDB()))
		workers = river.NewWorkers()
		sent := mailer.NewSentLog(store.SQLDB())
		mailer.AddWorkers(workers, &mailer.Worker{Transport: transport, From: cfg.MailFrom, Log: log.With("component", "mailer"), Metrics: metrics, Sent: sent})
		river.AddWorker(workers, &mailer.PruneSentWorker{Sent: sent})
		rc.Workers = workers
		rc.Queues = mailer.RiverQueues()
	}
	client, err := river.NewClient(store.RiverDriver(), rc)
	if err != nil {
		return nil, err
	}
	if work {
		client.PeriodicJobs().Add(mailer.PruneSentJob())
	}
	return &jobs{client: client, outbox: mailer.NewOutbox(client, renderer), workers: workers}, nil
}

// addPeriodic registers the housekeeping jobs. River runs periodic jobs on the elected leader
// only, so with several replicas each runs once per period.
func (j *jobs) addPeriodic(store *dbstore.Store, identity *dbstore.Identity) error {
	if j.workers == nil {
		return errors.New("addPeriodic on an insert-only job client")
	}
	river.AddWorker(j.workers, &pruneWorker{identity: identity, store: store})
	j.client.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return pruneArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
	return nil
}

// pruneArgs is the hourly job that deletes expired sessions, used single-use tokens, old
// throttle rows and expired idempotency keys.
type pruneArgs struct{}

func (pruneArgs) Kind() string { return "prune_expired" }

type pruneWorker struct {
	river.WorkerDefaults[pruneArgs]
	identity *dbstore.Identity
	store    *dbstore.Store
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[pruneArgs]) error {
	if _, err := w.identity.PruneExpired(ctx); err != nil {
		return err
	}
	_, err := w.store.PruneIdempotencyKeys(ctx)
	return err
}

// cmdServe migrates, then serves HTTP and runs the background workers until ctx ends (SIGTERM or
// SIGINT). It then stops taking connections, lets in-flight requests and running jobs finish
// within the shutdown timeout, and returns nil.
func cmdServe(ctx context.Context, args, env []string, stderr io.Writer) error {
	cfg, log, err := loadCommandConfig("serve", args, env, stderr, "serve takes no arguments, got")
	if err != nil {
		return err
	}
	if err := cfg.ensureSecret(log); err != nil {
		return err
	}
	log.Info("starting entitled", cfg.logAttrs()...)
	tuneGC(env, log)

	store, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	// Follow the changes other replicas and the CLI make (PostgreSQL LISTEN/NOTIFY, SQLite
	// data_version), so that their writes empty this replica's caches at once; Close stops it.
	if err := store.ListenForChanges(ctx); err != nil {
		return err
	}
	// Beat while serving, until the requests have drained (the deferred stop runs after the
	// server's shutdown): another replica takes over the idempotency keys of this process's
	// requests only once it stops beating.
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBeat()
	if err := store.RunHeartbeat(beatCtx); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		// Besides the MemStats figures, the heap marked live by the last collection
		// (go_gc_heap_live_bytes): unlike heap in use it does not swing with garbage not yet
		// swept, so it shows whether memory grows under steady load.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// The pool's open, in-use and idle connections and its waits (go_sql_*{db_name="entitled"}):
		// an exhausted or leaking pool shows here before requests start timing out.
		collectors.NewDBStatsCollector(store.SQLDB(), "entitled"),
	)
	bg, err := newJobs(cfg, store, log, reg, true)
	if err != nil {
		return err
	}
	identity := dbstore.NewIdentity(store, bg.outbox, cfg.BaseURL)
	// Second factors: TOTP secrets are sealed with ENTITLED_SECRET; ENTITLED_STAFF_MFA.
	if _, err := identity.WithMFA(string(cfg.Secret), cfg.StaffMFA); err != nil {
		return err
	}
	if err := bg.addPeriodic(store, identity); err != nil {
		return err
	}
	// The letters of signup, forgot password and account recovery, decided after the answer.
	dbstore.AddWorkers(bg.workers, store, cfg.BaseURL)
	if err := bg.addRenewalSweep(cfg, store, log); err != nil {
		return err
	}
	// The signing keys: a fresh database gets its first keys here, so that the JWKS is never
	// empty; every replica re-reads them every few seconds to follow a rotation.
	keys, tokens, err := newTokens(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	keys.Start(ctx)
	// On every way out, after the requests (which may start a background reload of the keys)
	// and before store.Close (deferred earlier, so run later): the ring's goroutines end first.
	defer keys.Stop()
	// Webhooks: the endpoints' secrets are sealed with ENTITLED_SECRET; deliveries are jobs.
	hooks, err := dbstore.NewWebhooks(store, bg.outbox, string(cfg.Secret), cfg.WebhookAllowPrivate)
	if err != nil {
		return err
	}
	hooks.Links = mailer.NewLinks(cfg.BaseURL)
	webhooks.AddWorkers(bg.workers, &webhooks.Worker{Webhooks: hooks, Sender: &webhooks.Sender{Client: webhooks.NewClient(cfg.WebhookAllowPrivate, nil), AllowHTTP: cfg.WebhookAllowPrivate},
		Metrics: webhooks.NewMetrics(reg, hooks)})
	orders := dbstore.NewOrders(store, bg.outbox, cfg.BaseURL)
	orders.RenewalWindowDays = cfg.RenewalWindowDays // for order.created's support status
	// Staff single sign-on: the IdP is first asked at the first sign-in, so that one that is down
	// does not keep the server from starting.
	var ssoClient *sso.Client
	if cfg.OIDCIssuer != "" {
		ssoClient, err = sso.New(sso.Config{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: string(cfg.OIDCClientSecret),
			Name: cfg.OIDCName, RolesClaim: cfg.OIDCRolesClaim, RoleMap: cfg.OIDCRoleMap, BaseURL: cfg.BaseURL, Secret: string(cfg.Secret)})
		if err != nil {
			return err
		}
	}
	router, err := handlers.New(handlers.Deps{
		Store: store, Identity: identity, Log: log, Registry: reg, Webhooks: hooks, BaseURL: cfg.BaseURL,
		DownloadsURL: cfg.DownloadsURL, CasesURL: cfg.CasesURL, SSO: ssoClient,
		Catalogue:      dbstore.NewCatalogue(store),
		Orders:         orders,
		Accounts:       dbstore.NewAccounts(store, bg.outbox, cfg.BaseURL),
		Licenses:       dbstore.NewLicenses(store, cfg.RenewalWindowDays),
		Registrations:  dbstore.NewRegistrations(store, bg.outbox, cfg.BaseURL),
		Help:           dbstore.NewHelp(store, bg.outbox),
		Contracts:      dbstore.NewContracts(store, bg.outbox, cfg.RenewalWindowDays),
		TrustedProxies: cfg.TrustedProxies, RateAnonPerMin: cfg.RateAnonPerMin,
		Keys: keys, Tokens: tokens, LicenseKeys: dbstore.NewLicenseKeys(store, keys, cfg.BaseURL, cfg.RenewalWindowDays).WithOutbox(bg.outbox),
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handlers.ServeHEAD(router),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Jobs run on their own context: a signal must not cut a letter off mid-send; Stop drains them.
	if err := bg.client.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return fmt.Errorf("start workers: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	// The effective public URL (derived from the listen address unless ENTITLED_BASE_URL is set)
	// and database (the file, or user@host/database: never a password).
	log.Info("serving", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "database", cfg.databaseLabel(), "dialect", store.Dialect)
	newcomerHints(ctx, cfg, identity, log)

	select {
	case <-ctx.Done():
		log.Info("shutting down: draining requests and jobs", "timeout", cfg.ShutdownTimeout.String())
	case err := <-serveErr:
		_ = bg.client.Stop(context.Background())
		return fmt.Errorf("http server: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := bg.client.Stop(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("workers shutdown: %w", err))
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	log.Info("stopped")
	return nil
}

// levelAtLeast drops records below a minimum level, to keep a chatty library quiet.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(a []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(a), h.min}
}

func (h levelAtLeast) WithGroup(n string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(n), h.min}
}

// riverClientID names this process among the replicas in River's tables (river_leader, each
// job's attempted_by): the host and the process id, so that an operator, and the fleet tests,
// can tell which replica leads; then the start time, as River's default, so that a restarted
// process with a reused pid is another client.
func riverClientID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown_host"
	}
	host = strings.ReplaceAll(host, ".", "_")
	if len(host) > 48 {
		host = host[:48]
	}
	return fmt.Sprintf("%s_pid%d_%s", host, os.Getpid(), time.Now().UTC().Format("2006_01_02T15_04_05_000000"))
}

// serveGCPercent is the garbage collector's target in the server unless GOGC says otherwise.
// A request leaves almost nothing behind (the live heap stays under 10 MiB under load), so
// collecting when the heap has grown by 4× the live heap rather than Go's 1× costs some tens of
// MiB and spends about a quarter of the CPU on marking (measured: README, "Hot paths").
const serveGCPercent = 400

// tuneGC sets serveGCPercent, unless the operator set GOGC (or GOMEMLIMIT, which they would
// have sized for Go's default).
func tuneGC(env []string, log *slog.Logger) {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return
		}
	}
	debug.SetGCPercent(serveGCPercent)
	log.Debug("garbage collector target set", "gogc", serveGCPercent)
}
