package mailer

import (
	"net/url"
	"testing"
)

func TestLinks(t *testing.T) {
	for _, base := range []string{"https://lic.example.test", "https://lic.example.test/", "https://lic.example.test//"} {
		l := NewLinks(base)
		raw := Links{Base: base} // built without NewLinks: the trailing slash is ignored all the same
		for _, tc := range []struct{ name, got, raw, want string }{
			{"Verify", l.Verify("abc-DEF_123"), raw.Verify("abc-DEF_123"), "https://lic.example.test/verify?token=abc-DEF_123"},
			{"ResetPassword", l.ResetPassword("t"), raw.ResetPassword("t"), "https://lic.example.test/reset-password?token=t"},
			{"Invitation", l.Invitation("t"), raw.Invitation("t"), "https://lic.example.test/invitations?token=t"},
			{"Register", l.Register(), raw.Register(), "https://lic.example.test/register"},
			{"Licenses", l.Licenses(), raw.Licenses(), "https://lic.example.test/licenses"},
			{"License", l.License("LN-1234-5678"), raw.License("LN-1234-5678"), "https://lic.example.test/licenses/LN-1234-5678"},
			{"LicenseRequests", l.LicenseRequests("LN-1"), raw.LicenseRequests("LN-1"), "https://lic.example.test/licenses/LN-1/requests"},
			{"RegistrationHelp", l.RegistrationHelp(), raw.RegistrationHelp(), "https://lic.example.test/registration-help"},
			{"Renewals", l.Renewals(), raw.Renewals(), "https://lic.example.test/renewals"},
			{"Login", l.Login(), raw.Login(), "https://lic.example.test/login"},
			{"ForgotPassword", l.ForgotPassword(), raw.ForgotPassword(), "https://lic.example.test/forgot-password"},
		} {
			if tc.got != tc.want || tc.raw != tc.want {
				t.Errorf("base %q: %s = %q (raw %q), want %q", base, tc.name, tc.got, tc.raw, tc.want)
			}
		}
	}
}

// TestLinksEscape: a value that is not URL-safe cannot change the link's path or query.
func TestLinksEscape(t *testing.T) {
	l := NewLinks("https://lic.example.test/portal")
	for _, tc := range []struct{ name, got, want string }{
		{"token", l.Verify("a+b/c=d&admin=1 é#x?"), "https://lic.example.test/portal/verify?token=a%2Bb%2Fc%3Dd%26admin%3D1+%C3%A9%23x%3F"},
		{"ln slash", l.License("LN/../../admin"), "https://lic.example.test/portal/licenses/LN%2F..%2F..%2Fadmin"},
		{"ln query", l.LicenseRequests("LN?x=1#frag"), "https://lic.example.test/portal/licenses/LN%3Fx=1%23frag/requests"},
		{"ln space", l.License("LN 1%"), "https://lic.example.test/portal/licenses/LN%201%25"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}

	// Round trip: what a server parses out of the link is what went in.
	tokens := []string{"", "plain", "a+b/c=d&admin=1 é#x?", "%00%zz", "line\nbreak"}
	for _, tok := range tokens {
		u, err := url.Parse(l.ResetPassword(tok))
		if err != nil {
			t.Fatalf("parse reset link for %q: %v", tok, err)
		}
		if u.Path != "/portal/reset-password" || u.Query().Get("token") != tok || len(u.Query()) != 1 || u.Fragment != "" {
			t.Errorf("token %q: path %q, query %q, fragment %q", tok, u.Path, u.RawQuery, u.Fragment)
		}
	}
	for _, ln := range []string{"LN-1", "LN/../x", "LN?x#y", "LN 1%", "é"} {
		u, err := url.Parse(l.LicenseRequests(ln))
		if err != nil {
			t.Fatalf("parse requests link for %q: %v", ln, err)
		}
		if u.Path != "/portal/licenses/"+ln+"/requests" || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("ln %q: path %q, query %q, fragment %q", ln, u.Path, u.RawQuery, u.Fragment)
		}
		if got := u.EscapedPath(); got != "/portal/licenses/"+url.PathEscape(ln)+"/requests" {
			t.Errorf("ln %q: escaped path %q", ln, got)
		}
	}
}
