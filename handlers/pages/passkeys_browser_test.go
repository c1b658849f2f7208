package pages_test

// Passkeys in a real Chromium with the DevTools virtual authenticator (a platform authenticator
// that verifies the user at once): a customer registers a named passkey on the Security page,
// signs out, signs in with the password and then the passkey, and removes it with the password.
// WebAuthn takes no IP address for a relying party, so this test's server is the relying party
// http://localhost:<port> (ENTITLED_BASE_URL as a person running it locally would set it).

import (
	"context"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"entitled/models/store"
)

// virtualAuthenticator gives the tab a platform passkey authenticator.
func virtualAuthenticator(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		return chromedp.Void{}, err
	}
	_, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	return chromedp.Void{}, err
}

func TestBrowser_Passkey_RegisterSignInRemove(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	a := newTestApp(t, store.SQLite)
	srv, _ := url.Parse(a.Srv.URL)
	base := "http://localhost:" + srv.Port()
	if err := a.Identity.SetRelyingParty(base); err != nil {
		t.Fatal(err)
	}
	u := a.NewUser(t)

	b := newTab(t, browser, a, shots, "passkey")
	b.base = base
	b.do("virtual authenticator", virtualAuthenticator)
	b.open("/login?next=%2Faccount%2Fsecurity")
	b.fill("email", u.Email)
	b.fill("password", u.Password)
	b.click("main button[type=submit]")
	b.at("/account/security")
	b.fill("passkey-name", "work laptop")
	b.click("#add-passkey button[type=submit]")
	b.see("Your passkey is added", "work laptop")
	b.shot("registered")
	if n := len(a.Letters(t, "second_factor_changed", u.Email)); n != 1 {
		t.Errorf("%d letters about the new passkey, want 1", n)
	}

	// Sign out, then in: the password, then the passkey.
	b.click(`form[action="/logout"] button`)
	b.open("/login?next=%2Flicenses")
	b.fill("email", u.Email)
	b.fill("password", u.Password)
	b.click("main button[type=submit]")
	b.see("Use a passkey")
	b.shot("second-step")
	b.click("#use-passkey button[type=submit]")
	b.at("/licenses")
	b.open("/account/security")
	b.see("work laptop", "this browser")
	lastUsed, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(`#passkey-list td[data-label="Last used"]`)))
	if err != nil || lastUsed == "never" {
		t.Errorf("the passkey's last use is %q (%v), want the sign-in just made", lastUsed, err)
	}

	// Removing it needs the password; then the password alone signs in.
	b.fill("pk-pw-1", "not my password at all")
	b.click(`#passkey-list button`)
	b.see("not your current password")
	b.fill("pk-pw-1", u.Password)
	b.click(`#passkey-list button`)
	b.see("The passkey is removed.")
	a.Browser().Login(t, u.Email, u.Password)
}
