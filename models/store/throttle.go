package store

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"gorm.io/gorm"

	"entitled/models"
)

// authFailure is one failed attempt.
type authFailure struct {
	ID    int64
	Scope string
	Key   string
	At    time.Time
}

func (authFailure) TableName() string { return "auth_failures" }

// checkLimit returns a too_many_attempts error when key has reached the limit, saying when the
// oldest failure that counts leaves the window.
func (s *Store) checkLimit(ctx context.Context, l models.Limit, key string) error {
	now := s.Clock.Now()
	var at []time.Time
	// The Max-th most recent failure: once it leaves the window, fewer than Max remain.
	err := s.db.WithContext(ctx).Model(&authFailure{}).
		Where("scope = ? AND key = ? AND at > ?", l.Scope, key, now.Add(-l.Window)).
		Order("at DESC").Offset(l.Max-1).Limit(1).Pluck("at", &at).Error
	if err != nil {
		return translate(err)
	}
	if len(at) == 0 {
		return nil
	}
	wait := at[0].Add(l.Window).Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return &models.Error{Code: models.CodeTooManyAttempts, Message: "too many failed attempts; try again later", RetryAfter: wait}
}

// recordFailure counts one failure for key. It is written on its own, outside any transaction
// of the request, so that the failure counts even though the request fails.
func (s *Store) recordFailure(ctx context.Context, l models.Limit, key string) error {
	return translate(s.db.WithContext(ctx).Create(&authFailure{Scope: l.Scope, Key: key, At: s.Clock.Now()}).Error)
}

// letterLog records that a letter of a kind went to an address.
type letterLog struct {
	ID        int64
	Recipient string
	Kind      string
	At        time.Time
}

func (letterLog) TableName() string { return "letter_log" }

// letterAllowed reports whether another letter of kind may go to recipient this hour and, if so,
// records it. It runs in the transaction that queues the letter.
func letterAllowed(tx *gorm.DB, now time.Time, recipient, kind string) (bool, error) {
	return letterAllowedMax(tx, now, recipient, kind, models.LettersPerHour)
}

// letterAllowedMax is letterAllowed with a cap of its own.
func letterAllowedMax(tx *gorm.DB, now time.Time, recipient, kind string, max int) (bool, error) {
	if tx.Dialector.Name() == "postgres" {
		// Serialise the count-then-record of one address and kind, so that simultaneous
		// requests cannot all slip under the cap. (SQLite transactions already run one at a time.)
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "letter:"+kind+":"+recipient).Error; err != nil {
			return false, err
		}
	}
	var n int64
	if err := tx.Model(&letterLog{}).Where("recipient = ? AND kind = ? AND at > ?", recipient, kind, now.Add(-time.Hour)).
		Count(&n).Error; err != nil {
		return false, err
	}
	if n >= int64(max) {
		return false, nil
	}
	return true, tx.Create(&letterLog{Recipient: recipient, Kind: kind, At: now}).Error
}

// PruneThrottles deletes failures and letter records older than any window that reads them.
func (s *Store) PruneThrottles(ctx context.Context) (_ int64, err error) {
	defer wrapErr(&err, "prune failure counts")
	now := s.Clock.Now()
	r1 := s.db.WithContext(ctx).Where("at < ?", now.Add(-24*time.Hour)).Delete(&authFailure{})
	if r1.Error != nil {
		return 0, translate(r1.Error)
	}
	r2 := s.db.WithContext(ctx).Where("at < ?", now.Add(-24*time.Hour)).Delete(&letterLog{})
	return r1.RowsAffected + r2.RowsAffected, translate(r2.Error)
}

// KeyedLimiter is a token bucket per key (a client address, say), in this process.
type KeyedLimiter struct {
	mu        sync.Mutex
	every     rate.Limit
	burst     int
	buckets   map[string]*keyedBucket
	lastSweep time.Time
}

type keyedBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewKeyedLimiter makes a limiter whose buckets refill at perSecond and hold burst tokens.
func NewKeyedLimiter(perSecond float64, burst int) *KeyedLimiter {
	return &KeyedLimiter{every: rate.Limit(perSecond), burst: burst, buckets: map[string]*keyedBucket{}, lastSweep: time.Now()}
}

// Take spends one token of key's bucket, or says how long until there is one; left is how many
// tokens the bucket holds afterwards.
func (l *KeyedLimiter) Take(key string, now time.Time) (ok bool, wait time.Duration, left float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		// Forget keys not seen for a while (their buckets are full again), so the map cannot
		// grow without end.
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 2*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &keyedBucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, b.lim.TokensAt(now)
	}
	return true, 0, b.lim.TokensAt(now)
}

// pacer is a token bucket per key, in this process.
type pacer struct{ limiter *KeyedLimiter }

func newPacer(perSecond float64, burst int) *pacer {
	return &pacer{limiter: NewKeyedLimiter(perSecond, burst)}
}

// take spends one token of key's bucket, or says how long to wait (at least a second, as
// Retry-After counts in seconds).
func (p *pacer) take(key string, now time.Time) (time.Duration, bool) {
	if ok, wait, _ := p.limiter.Take(key, now); !ok {
		return time.Duration(math.Ceil(wait.Seconds())) * time.Second, false
	}
	return 0, true
}
