package pages_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A letter's link that is unknown, expired or used says so and offers the way to a new one: a
// fresh confirmation link (signing up again) or a new password-reset link.
func TestInvalidLinkPageOffersANewLink(t *testing.T) {
	a := newTestApp(t, "sqlite")
	status, body := a.postForm(t, "/verify", url.Values{"token": {"no-such-token"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid, has expired or was used already") ||
		!strings.Contains(body, `href="/signup"`) || !strings.Contains(body, `href="/forgot-password"`) {
		t.Errorf("POST /verify with a bad token: %d\n%s", status, body)
	}
	status, body = a.postForm(t, "/reset-password", url.Values{"token": {"no-such-token"}, "password": {"a new password 123"}, "password_confirm": {"a new password 123"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid, has expired or was used already") ||
		!strings.Contains(body, `href="/forgot-password"`) {
		t.Errorf("POST /reset-password with a bad token: %d\n%s", status, body)
	}
}
