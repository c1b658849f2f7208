package pages_test

// The second factor in a real Chromium: a customer sets up an authenticator app on the Security
// page (the QR code is an image the browser draws), keeps the recovery codes, signs in again with
// the password and then the app's code, and signs another session out.

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"entitled/models/store"
)

func TestBrowser_SecondFactor(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	a := newTestApp(t, store.SQLite)
	u := a.NewUser(t) // and an API session, listed on the Security page

	b := newTab(t, browser, a, shots, "mfa")
	b.signIn(u.Email, u.Password)
	b.open("/account")
	b.click(`a[href="/account/security"]`)
	b.see("Off", "Where you are signed in", "this browser")
	b.click("#totp button[type=submit]")
	b.see("Scan this QR code")
	// The QR code is a PNG the browser decodes (the page's CSP allows data: images).
	width, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.getElementById('totp-qr').naturalWidth`))
	if err != nil || width < 100 {
		t.Fatalf("the QR code image has width %d (%v): not drawn", width, err)
	}
	secret, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("totp-secret")))
	if err != nil || len(secret) < 16 {
		t.Fatalf("key on the page %q (%v)", secret, err)
	}
	b.shot("qr-code")
	b.fill("code", codeAt(t, secret, a.Clock.Now()))
	b.click("#totp form button[type=submit]")
	b.see("Your recovery codes", "shown only this once", "On")
	b.shot("recovery-codes")
	a.Clock.Advance(30 * time.Second)

	// Sign in again in a fresh browser context: password, then the code.
	c := newTab(t, browser, a, shots, "mfa-second-step")
	c.signIn(u.Email, u.Password, "/account/security")
	c.see("enter the 6-digit code")
	c.shot("second-step")
	c.fill("code", "000000")
	c.click("main button[type=submit]")
	c.see("That code is wrong")
	c.fill("code", codeAt(t, secret, a.Clock.Now()))
	c.click("main button[type=submit]")
	c.at("/account/security")
	c.see("this browser")

	// The first tab signs the second one out.
	b.open("/account/security")
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#sessions tbody tr').length`))
	if err != nil || rows != 3 {
		t.Fatalf("%d sessions listed (%v), want 3: the API's, this tab's, the other tab's", rows, err)
	}
	b.click(`#sessions tbody tr:first-child button`) // newest first: the other tab's
	b.see("That session is signed out.")
	b.shot("signed-out")
	c.open("/account/security")
	c.at("/login?next=%2Faccount%2Fsecurity")
}

// Passkeys in a real Chromium with the DevTools virtual authenticator (a platform authenticator
// that verifies the user at once): a customer registers a named passkey on the Security page,
// signs out, signs in with the password and then the passkey, and removes it with the password.
// WebAuthn takes no IP address for a relying party, so this test's server is the relying party
// http://localhost:<port> (ENTITLED_BASE_URL as a person running it locally would set it).

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
	b.signIn(u.Email, u.Password, "/account/security")
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
	b.signIn(u.Email, u.Password, "/licenses")
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
