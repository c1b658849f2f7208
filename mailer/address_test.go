package mailer_test

import (
	"errors"
	"net/mail"
	"strings"
	"testing"

	"entitled/mailer"
	"entitled/models"
)

// validAddressCases are the addresses of issue 16 item 4 and their neighbours: what the API
// accepts must be what the mailer sends.
var validAddressCases = []struct {
	addr string
	want bool
}{
	// Good ones.
	{"pat@example.com", true},
	{"Pat.Doe@Example.COM", true},
	{"a@b.co", true},
	{"x@localhost", true},
	{"first.last+tag@sub.example.co.uk", true},
	{"o'neil@example.ie", true},
	{"a!#$%&'*+-/=?^_`{|}~z@example.com", true},
	{"1234@123.example", true},
	{"x@xn--bcher-kva.example", true}, // an IDN in its ASCII (punycode) form
	{"x@a-b.example", true},
	{"x@example.c0m", true},
	{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".example", true},
	{strings.Repeat("a", 242) + "@example.com", true}, // 254 characters

	// Address literals.
	{"x@[10.0.0.1]", false},
	{"x@[IPv6:::1]", false},
	{"x@[IPv6:2001:db8::1]", false},
	{"x@[::1]", false},
	{"x@10.0.0.1", false}, // a bare IPv4 address is no host name either
	{"x@127.0.0.1", false},
	// Quoted local parts.
	{`"a b"@example.com`, false},
	{`"a>,b@evil.example"@example.com`, false},
	{`"pat"@example.com`, false},
	{`a\@b@example.com`, false},
	// Display names and comments.
	{"Pat <pat@example.com>", false},
	{"<pat@example.com>", false},
	{`"Doe, Jane" <jane@example.com>`, false},
	{"pat@example.com (Pat)", false},
	{"(c)pat@example.com", false},
	// UTF-8.
	{"jöe@example.com", false},
	{"joe@exämple.com", false},
	{"pat@example.com\u00a0", false},
	{"\xff@example.com", false},
	// Spaces and control characters.
	{" pat@example.com", false},
	{"pat@example.com ", false},
	{"p at@example.com", false},
	{"pat@exa mple.com", false},
	{"pat@example.com\r\nBcc: evil@evil.example", false},
	{"pat\t@example.com", false},
	{"pat@example.com\x00", false},
	// Two @, or none.
	{"a@b@example.com", false},
	{"pat.example.com", false},
	{"@", false},
	// Empty parts.
	{"", false},
	{"@example.com", false},
	{"pat@", false},
	{"pat@.example.com", false},
	{"pat@example..com", false},
	// Dots in the wrong places.
	{"pat@example.com.", false}, // trailing dot
	{".pat@example.com", false},
	{"pat.@example.com", false},
	{"pa..t@example.com", false},
	// Host names: letters, digits and hyphens only, no hyphen at either end of a label.
	{"pat@-example.com", false},
	{"pat@example-.com", false},
	{"pat@exa_mple.com", false},
	{"pat@example.com:25", false},
	{"pat@example.com/x", false},
	{"pat@" + strings.Repeat("b", 64) + ".example", false},
	// Lists and specials.
	{"pat@example.com, evil@evil.example", false},
	{"pat@example.com;evil@evil.example", false},
	{"p(a)t@example.com", false},
	{"p[a]t@example.com", false},
	{"p:t@example.com", false},
	// Too long.
	{strings.Repeat("a", 243) + "@example.com", false}, // 255 characters
}

func TestValidAddress(t *testing.T) {
	for _, tt := range validAddressCases {
		if got := models.ValidEmail(tt.addr); got != tt.want {
			t.Errorf("ValidEmail(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// Render refuses what models.ValidEmail refuses, in To and Cc, with ErrBadAddress, and renders what
// it accepts; every address it accepts reads back through net/mail as itself, so that the header
// and the SMTP envelope carry it unchanged.
func TestRenderAgreesWithValidAddress(t *testing.T) {
	r := mustRenderer(t)
	for _, tt := range validAddressCases {
		if tt.addr == "" {
			continue // no recipient at all: ErrNoRecipient, Render's own case
		}
		for _, cc := range []bool{false, true} {
			to, ccs := []string{tt.addr}, []string(nil)
			if cc {
				to, ccs = []string{"ok@example.com"}, []string{tt.addr}
			}
			_, err := r.Render(mailer.TestLetter{}, to, ccs)
			switch {
			case tt.want && err != nil:
				t.Errorf("Render to %q (cc %v): %v, want it rendered", tt.addr, cc, err)
			case !tt.want && !errors.Is(err, mailer.ErrBadAddress):
				t.Errorf("Render to %q (cc %v): %v, want ErrBadAddress", tt.addr, cc, err)
			}
		}
		if tt.want {
			if a, err := mail.ParseAddress(tt.addr); err != nil || a.Address != tt.addr {
				t.Errorf("net/mail reads %q as %v (%v)", tt.addr, a, err)
			}
		}
	}
}

// FuzzValidAddress: whatever models.ValidEmail takes, net/mail reads back as itself (so the header and
// the SMTP envelope carry it unchanged) and Render renders; whatever it refuses, Render refuses.
func FuzzValidAddress(f *testing.F) {
	for _, tt := range validAddressCases {
		f.Add(tt.addr)
	}
	r, err := mailer.NewRenderer("https://licenses.example.com")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		ok := models.ValidEmail(addr)
		if ok {
			if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
				t.Fatalf("ValidEmail(%q) but net/mail reads it as %v (%v)", addr, a, err)
			}
		}
		_, err := r.Render(mailer.TestLetter{}, []string{addr}, nil)
		if ok && err != nil || !ok && addr != "" && !errors.Is(err, mailer.ErrBadAddress) {
			t.Fatalf("ValidEmail(%q) = %v, but Render: %v", addr, ok, err)
		}
	})
}
