package pages_test

import (
	"net/url"
	"strings"
	"testing"
	"unicode"

	"entitled/handlers/pages"
)

// FuzzSafeNext: whatever next= holds, where a browser goes after signing in stays on this
// server. The answer is "/" or a path of one leading slash with no control, space or backslash
// (which browsers drop or read as "/"), raw or percent-decoded, that a browser resolves against
// the portal to the portal's own origin; and SafeNext is idempotent on its answers.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/licenses", "/licenses?x=1#f", "//evil.example", "/\t/evil", "/%5Cevil", "/%2F%2Fevil",
		"https://evil.example", "/a/../b", "/%zz", "/ok%20", "\\\\evil", "/\u2028/evil", "/caf\u00e9"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://portal.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := pages.SafeNext(next)
		if got == "/" {
			return
		}
		decoded, err := url.PathUnescape(got)
		if err != nil {
			t.Fatalf("SafeNext(%q) = %q, which does not decode: %v", next, got, err)
		}
		for _, s := range []string{got, decoded} {
			if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsFunc(s, func(r rune) bool {
				return r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r)
			}) {
				t.Fatalf("SafeNext(%q) = %q (decoded %q): not a plain path of this server", next, got, decoded)
			}
		}
		u, err := base.Parse(got)
		if err != nil || u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
			t.Fatalf("SafeNext(%q) = %q leads a browser to %v (%v)", next, got, u, err)
		}
		if again := pages.SafeNext(got); again != got {
			t.Fatalf("SafeNext(%q) = %q, but SafeNext of that is %q", next, got, again)
		}
	})
}
