package mailer

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"
)

const (
	failureTemporary = "temporary"
	failurePermanent = "permanent"
)

// Metrics counts deliveries. A nil *Metrics counts nothing, so a Worker works without one.
type Metrics struct {
	sentTotal     prometheus.Counter
	failuresTotal *prometheus.CounterVec
}

// NewMetrics registers the mail counters with reg: entitled_mail_sent_total and
// entitled_mail_failures_total{kind="temporary"|"permanent"}. It panics if they are registered
// already, like prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sentTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "entitled_mail_sent_total",
			Help: "Letters the mail server (or the mail directory) accepted.",
		}),
		failuresTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entitled_mail_failures_total",
			Help: "Failed delivery attempts: temporary ones are retried, permanent ones (SMTP 5xx) are not.",
		}, []string{"kind"}),
	}
	// Both kinds exist from the start, so that rate() and alerts see a 0 instead of nothing.
	m.failuresTotal.WithLabelValues(failureTemporary)
	m.failuresTotal.WithLabelValues(failurePermanent)
	reg.MustRegister(m.sentTotal, m.failuresTotal)
	return m
}

func (m *Metrics) sent() {
	if m != nil {
		m.sentTotal.Inc()
	}
}

func (m *Metrics) failed(kind string) {
	if m != nil {
		m.failuresTotal.WithLabelValues(kind).Inc()
	}
}

var queueJobsDesc = prometheus.NewDesc(
	"entitled_mail_queue_jobs",
	"Jobs in the mail queue by River state (completed, discarded and cancelled ones until River prunes them).",
	[]string{"state"}, nil,
)

// QueueDepth is a collector that counts the mail queue's jobs by state at each scrape, as the
// gauge entitled_mail_queue_jobs{state}. It reads River's table, on SQLite or PostgreSQL; when
// the query fails the scrape reports that as an invalid metric instead of a stale number.
func QueueDepth(db *sql.DB) prometheus.Collector {
	return &queueDepth{db: db}
}

type queueDepth struct{ db *sql.DB }

func (q *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- queueJobsDesc }

func (q *queueDepth) Collect(ch chan<- prometheus.Metric) {
	counts, err := q.count()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueJobsDesc, err)
		return
	}
	// Every state River knows is reported, 0 when it has no jobs, so a series never vanishes.
	for _, s := range rivertype.JobStates() {
		ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
	}
}

func (q *queueDepth) count() (map[string]int64, error) {
	// A scrape has no context of its own; a slow database must not hold it past its timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The queue name is a constant, written into the query rather than bound, since the two
	// dialects' drivers spell placeholders differently.
	rows, err := q.db.QueryContext(ctx, "SELECT state, count(*) FROM river_job WHERE queue = '"+QueueMail+"' GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("mailer: count mail jobs: %w", err)
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("mailer: count mail jobs: %w", err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mailer: count mail jobs: %w", err)
	}
	return counts, nil
}
