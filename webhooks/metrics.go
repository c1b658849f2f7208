package webhooks

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entitled/models"
	"entitled/models/store"
)

// Outcomes of an attempt, the outcome label of entitled_webhook_attempts_total.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeRetrying  = "retrying" // failed, and another attempt is scheduled
	OutcomeFailed    = "failed"   // failed, and it was the last attempt
)

// Metrics counts attempts by event type and outcome and times them. A nil *Metrics counts
// nothing, so a Worker works without one.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

// NewMetrics registers entitled_webhook_attempts_total{type,outcome},
// entitled_webhook_attempt_seconds and, when hooks is not nil, the gauge
// entitled_webhook_pending_deliveries (read at each scrape) with reg. It panics if they are
// registered already, like prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer, hooks *store.Webhooks) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entitled_webhook_attempts_total",
			Help: "Webhook delivery attempts by event type and outcome (succeeded, retrying, failed).",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "entitled_webhook_attempt_seconds",
			Help:    "How long a webhook delivery attempt took, until the answer or the failure.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	reg.MustRegister(m.attempts, m.latency)
	if hooks != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "entitled_webhook_pending_deliveries",
			Help: "Webhook deliveries not yet succeeded or failed (-1 when the database does not answer).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := hooks.PendingDeliveries(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}

func (m *Metrics) observe(typ string, att models.WebhookAttempt, last bool) {
	if m == nil {
		return
	}
	outcome := OutcomeSucceeded
	switch {
	case att.OK():
	case last:
		outcome = OutcomeFailed
	default:
		outcome = OutcomeRetrying
	}
	m.attempts.WithLabelValues(typ, outcome).Inc()
	m.latency.Observe(float64(att.DurationMS) / 1000)
}
