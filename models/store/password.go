package store

import (
	"bufio"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"

	"entitled/models"
)

// passwordParams are OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

//go:embed common_passwords.txt
var commonPasswordsText string

var commonPasswords = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = true
		}
	}
	return m
})

// checkPassword adds to v what is wrong with a new password, under the field name given.
func checkPassword(v *models.Validation, field, pw string) {
	n := utf8.RuneCountInString(pw)
	switch {
	case pw == "":
		v.Add(field, models.FieldRequired, "is required")
	case n < models.PasswordMin:
		v.Add(field, models.FieldTooShort, "must be at least 12 characters")
	case n > models.PasswordMax:
		v.Add(field, models.FieldTooLong, "must be at most 256 characters")
	case commonPasswords()[strings.ToLower(pw)] || oneRepeatedChar(pw):
		v.Add(field, "too_common", "is one of the most common passwords; choose another")
	}
}

func oneRepeatedChar(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return strings.Trim(s, string(r)) == ""
}

// hasher runs argon2id under a concurrency cap: each hash takes 19 MiB, so 64 simultaneous logins
// would otherwise take over a gigabyte and starve the CPUs; beyond the cap they queue.
type hasher struct {
	sem   chan struct{}
	dummy func() string
}

func newHasher() *hasher {
	h := &hasher{sem: make(chan struct{}, runtime.GOMAXPROCS(0))}
	h.dummy = sync.OnceValue(func() string {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s, _ := h.hash(context.Background(), hex.EncodeToString(b))
		return s
	})
	return h
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.sem }

// hash returns the PHC-encoded argon2id hash of pw.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return argon2id.CreateHash(pw, passwordParams)
}

// verify reports whether pw matches the encoded hash. An empty hash is checked against a dummy
// hash, so that an unknown account costs the same time as a wrong password.
func (h *hasher) verify(ctx context.Context, pw, encoded string) (bool, error) {
	if encoded == "" {
		encoded = h.dummy()
		pw += "\x00never-matches"
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	return argon2id.ComparePasswordAndHash(pw, encoded)
}
