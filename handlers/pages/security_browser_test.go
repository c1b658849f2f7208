package pages_test

// The second factor in a real Chromium: a customer sets up an authenticator app on the Security
// page (the QR code is an image the browser draws), keeps the recovery codes, signs in again with
// the password and then the app's code, and signs another session out.

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"entitled/models/store"
)

func TestBrowser_SecondFactor(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	a := newTestApp(t, store.SQLite)
	u := a.NewUser(t) // and an API session, listed on the Security page

	b := newTab(t, browser, a, shots, "mfa")
	b.open("/login")
	b.fill("email", u.Email)
	b.fill("password", u.Password)
	b.click("main button[type=submit]")
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
	c.open("/login?next=%2Faccount%2Fsecurity")
	c.fill("email", u.Email)
	c.fill("password", u.Password)
	c.click("main button[type=submit]")
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
