package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"entitled/models/store"
)

// nextAttacks are next= values that a browser would follow off this server (or that are not a
// plain path), each of which safeNext turns into "/". Browsers drop tabs and newlines anywhere
// in a URL, trim spaces and controls at its ends and read "\" as "/": "/\t/evil.example" is
// "//evil.example".
var nextAttacks = []string{
	"/\t/evil.example/phish",
	"/%09/evil.example/phish",
	"/\t/evil",
	"/%0a/evil",
	"/%0d%0a/evil",
	"/\n/evil",
	"/\r/evil",
	"/\x00/evil",
	"/\x7f/evil",
	"//evil",
	"//evil.example/x",
	"///evil.example",
	"/\\evil",
	"/\\\\evil",
	"\\\\evil",
	"/%5Cevil",
	"/%5cevil",
	"/%5C%5Cevil.example",
	"/%2F%2Fevil",
	"/%2f/evil",
	"/%2F/evil.example",
	"https://evil",
	"https://evil.example/",
	"http:/evil",
	"HTTPS://evil",
	"javascript:alert(1)",
	"JavaScript:alert(document.cookie)",
	"data:text/html,<script>alert(1)</script>",
	" /x",
	"/x ",
	"/ /evil",
	"/%20/evil",
	"/x?q=a b",
	"/x?q=%0aSet-Cookie:x",
	"/\u00a0/evil",
	"/\u2028/evil",
	"/%zz",
	"/\xff",
	"evil.example",
	"x/y",
	"",
}

func TestSafeNext(t *testing.T) {
	for _, next := range nextAttacks {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"/", "/"},
		{"/ok?x=1", "/ok?x=1"},
		{"/licenses", "/licenses"},
		{"/licenses/LN-7KQ2-M9XD-44TB-R1ZC", "/licenses/LN-7KQ2-M9XD-44TB-R1ZC"},
		{"/licenses/LN-7KQ2-M9XD-44TB-R1ZC/members?tab=requests&x=1", "/licenses/LN-7KQ2-M9XD-44TB-R1ZC/members?tab=requests&x=1"},
		{"/renewals?q=acme+corp&within=90", "/renewals?q=acme+corp&within=90"},
		{"/register#top", "/register"},
		{"/a/%2F%2Fb", "/"}, // "//" anywhere is refused, encoded or not
		{"/.//evil.example", "/"},
		{"/a%2Fb", "/a%2Fb"}, // one encoded slash inside the path is still this server
	} {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Through the real sign-in: the login form's POST and GET /login of a signed-in person redirect
// only to a path on this server.
func TestLogin_NextRedirectsOnlyToThisServer(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	u := a.newUser(t)
	signedIn := a.signedIn(t, u)
	for _, next := range append(nextAttacks, "/ok?x=1", "/licenses/LN-7KQ2-M9XD-44TB-R1ZC") {
		wantLoc := "/"
		if strings.HasPrefix(next, "/ok") || strings.HasPrefix(next, "/licenses/") {
			wantLoc = next
		}
		// The form's POST, with next as the hidden field carries it.
		b := a.Browser()
		b.Get(t, "/login")
		p := b.Submit(t, "/login", url.Values{"email": {u.email}, "password": {u.password}, "next": {next}})
		if p.Status != http.StatusSeeOther || p.Location != wantLoc {
			t.Errorf("POST /login next=%q: %d to %q, want 303 to %q", next, p.Status, p.Location, wantLoc)
		}
		// The attack link itself: /login?next=… opened by someone signed in already.
		p = signedIn.Get(t, "/login?next="+url.QueryEscape(next))
		if p.Status != http.StatusSeeOther || p.Location != wantLoc {
			t.Errorf("GET /login?next=%q: %d to %q, want 303 to %q", next, p.Status, p.Location, wantLoc)
		}
		// The form shown to someone signed out carries only the safe value.
		p = a.Browser().Get(t, "/login?next="+url.QueryEscape(next))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="next" value="`+wantLoc+`"`) {
			t.Errorf("GET /login?next=%q signed out: %d, the form does not carry %q", next, p.Status, wantLoc)
		}
	}
	// The report's link, as a browser sends it (the %09 not decoded by anyone but the server).
	p := signedIn.Get(t, "/login?next=/%09/evil.example/phish")
	if p.Status != http.StatusSeeOther || p.Location != "/" {
		t.Errorf("GET /login?next=/%%09/evil.example/phish: %d to %q", p.Status, p.Location)
	}
}
