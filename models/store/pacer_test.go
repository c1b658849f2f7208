package store

import (
	"testing"
	"time"

	"entitled/models"
)

// An address over its login failure limit gets OverLimitChecksBurst password checks at once,
// then OverLimitChecksPerSecond a second; the refusal says when to come back (whole seconds), and
// other addresses have buckets of their own.
func TestPacer_PacesOneAddressAndNotOthers(t *testing.T) {
	p := newPacer(models.OverLimitChecksPerSecond, models.OverLimitChecksBurst)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range models.OverLimitChecksBurst {
		if _, ok := p.take("192.0.2.1", now); !ok {
			t.Fatalf("check %d of the burst refused", i+1)
		}
	}
	wait, ok := p.take("192.0.2.1", now)
	if ok || wait != time.Second {
		t.Fatalf("past the burst: ok %v, wait %s; want refused, retry after 1s", ok, wait)
	}
	if _, ok := p.take("198.51.100.7", now); !ok {
		t.Fatal("another address was refused")
	}
	if _, ok := p.take("192.0.2.1", now.Add(time.Second/models.OverLimitChecksPerSecond)); !ok {
		t.Fatal("after one interval the address is still refused")
	}
}
