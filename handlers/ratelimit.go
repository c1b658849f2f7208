package handlers

import (
	"math"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// anonLimiter limits anonymous letter-sending requests (signup, forgot, recover, help) per client
// address with a token bucket: perMinute a minute, bursts of the same. The buckets live in this
// process, so with N replicas behind a load balancer an address gets up to N times the rate; the
// per-address letter cap (in the database) bounds what reaches any inbox regardless.
type anonLimiter struct {
	perMinute int
	buckets   *store.KeyedLimiter
}

func newAnonLimiter(perMinute int) *anonLimiter {
	if perMinute <= 0 {
		perMinute = 60
	}
	return &anonLimiter{perMinute: perMinute, buckets: store.NewKeyedLimiter(float64(perMinute)/60, perMinute)}
}

// take spends one token of key's bucket; it returns how long to wait when there is none.
func (l *anonLimiter) take(key string, now time.Time) (bool, time.Duration) {
	ok, wait, _ := l.buckets.Take(key, now)
	return ok, wait
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
	ok, wait, left := l.buckets.Take(c.ClientIP(), time.Now())
	l.rateLimitHeaders(c, left)
	if !ok {
		fail(c, &models.Error{Code: models.CodeTooManyAttempts, Message: "too many requests from your address; try again later",
			RetryAfter: time.Duration(math.Max(float64(wait), float64(time.Second)))})
		return
	}
	c.Next()
}
