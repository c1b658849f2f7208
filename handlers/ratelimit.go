package handlers

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"entitled/models"
)

// anonLimiter limits anonymous letter-sending requests (signup, forgot, recover, help) per client
// address with a token bucket: perMinute a minute, bursts of the same. The buckets live in this
// process, so with N replicas behind a load balancer an address gets up to N times the rate; the
// per-address letter cap (in the database) bounds what reaches any inbox regardless.
type anonLimiter struct {
	mu        sync.Mutex
	perMinute int
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newAnonLimiter(perMinute int) *anonLimiter {
	if perMinute <= 0 {
		perMinute = 60
	}
	return &anonLimiter{perMinute: perMinute, buckets: map[string]*bucket{}, lastSweep: time.Now()}
}

// take spends one token of key's bucket; it returns how long to wait when there is none.
func (l *anonLimiter) take(key string, now time.Time) (bool, time.Duration) {
	ok, wait, _ := l.spend(key, now)
	return ok, wait
}

// spend is take that also says how many tokens are left afterwards.
func (l *anonLimiter) spend(key string, now time.Time) (ok bool, wait time.Duration, left float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		// Forget addresses whose bucket has been full for a while, so the map cannot grow without end.
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 2*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.perMinute)}
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

// anonPolicy names the anonymous limit in the RateLimit headers.
const anonPolicy = `"anon"`

// rateLimitHeaders sends the IETF httpapi ratelimit-headers draft's fields: RateLimit-Policy
// (quota q per window w seconds) and RateLimit (r left, full again in t seconds). The bucket
// refills continuously at q per w, so t is how long until it is full.
func (l *anonLimiter) rateLimitHeaders(c *gin.Context, left float64) {
	left = math.Max(0, left)
	full := (float64(l.perMinute) - left) * 60 / float64(l.perMinute)
	c.Header("RateLimit-Policy", anonPolicy+";q="+strconv.Itoa(l.perMinute)+";w=60")
	c.Header("RateLimit", anonPolicy+";r="+strconv.Itoa(int(math.Floor(left)))+";t="+strconv.Itoa(int(math.Ceil(full))))
}

// middleware refuses a request over the limit with 429 too_many_attempts and Retry-After. Every
// answer, refused or not, carries the RateLimit headers of the address's budget in this process.
func (l *anonLimiter) middleware(c *gin.Context) {
	ok, wait, left := l.spend(c.ClientIP(), time.Now())
	l.rateLimitHeaders(c, left)
	if !ok {
		fail(c, &models.Error{Code: models.CodeTooManyAttempts, Message: "too many requests from your address; try again later",
			RetryAfter: time.Duration(math.Max(float64(wait), float64(time.Second)))})
		return
	}
	c.Next()
}
