package pages_test

// The portal's small dead ends of issue 23, in a real browser at desktop width and at a phone's
// 390 px: pending invitations, the only administrator, unknown addresses and the problem pages,
// the staff pages for what only the API and the CLI did.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
)

func TestBrowser_PortalPolish(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	t.Run("an admin sees and cancels a pending invitation, and is told up front that the only admin cannot leave", func(t *testing.T) {
		invitationsJourney(t, browser, shots)
	})
	t.Run("a browser gets an HTML page for an unknown address and for every problem code", func(t *testing.T) {
		notFoundJourney(t, browser, shots)
	})
	t.Run("ops and a superadmin use the staff pages", func(t *testing.T) { staffPagesJourney(t, browser, shots) })
}

// signIn logs the tab in through the form and waits for the page it leads to.
func (b *tab) signIn(email, password string) {
	b.t.Helper()
	b.open("/login")
	b.fill("email", email)
	b.fill("password", password)
	b.click(`form[action="/login"] button[type=submit]`)
}

func invitationsJourney(t *testing.T, browser context.Context, shots string) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps)
	ln, _, _, admin := a.RegisteredLicense(t, ops.Token)
	b := newTab(t, browser, a, shots, "invitations")
	b.signIn(admin.Email, admin.Password)

	b.open("/licenses/" + ln + "/members")
	invitee := a.Email("sam")
	b.fill("invite-email", invitee)
	b.click(`form[action="/licenses/` + ln + `/members"].stack button[type=submit]`)
	b.see("Invitations waiting", invitee, "Cancel the invitation")
	b.shot("invitation-pending")
	b.phoneShot("invitation-pending")

	// The invitee's letter leads to a page naming the license and who invited, and sign-up from
	// it comes with the address filled in.
	link := "/invitations?token=" + url.QueryEscape(mailtest.LinkToken(t, a.Sink.WaitFor(t, invitee, 0, testBaseURL+"/invitations?token=")))
	guest := newTab(t, browser, a, shots, "invitee")
	guest.open(link)
	guest.see(admin.Name + " has invited " + invitee + " to license " + ln)
	guest.shot("invitation")
	guest.phoneShot("invitation")
	guest.click(`main a.button[href^="/signup"]`)
	prefilled, err := chromedp.Run(guest.ctx, chromedp.Value(chromedp.ID("email")))
	if err != nil || prefilled != invitee {
		t.Errorf("sign-up from the invitation has email %q (%v), want %s", prefilled, err, invitee)
	}

	b.click(`form[action="/licenses/` + ln + `/invitations/cancel"] button[type=submit]`)
	b.see("Members")
	if txt := b.mainText(); strings.Contains(txt, "Invitations waiting") {
		t.Errorf("the cancelled invitation is still listed:\n%s", txt)
	}
	guest.open(link)
	guest.see("This invitation was accepted, cancelled, or replaced")

	// Removing oneself, the only administrator, is refused at the first step, in words.
	b.open("/licenses/" + ln + "/members")
	b.click(`form[action="/licenses/` + ln + `/members/remove"] button[type=submit]`)
	b.see("the only administrator of license "+ln, "make someone else an administrator first")
	if txt := b.mainText(); strings.Contains(txt, "Yes, remove") {
		t.Errorf("removing the only admin asks to confirm what will be refused:\n%s", txt)
	}
	b.shot("only-admin")
}

func notFoundJourney(t *testing.T, browser context.Context, shots string) {
	a := newTestApp(t, store.SQLite)
	b := newTab(t, browser, a, shots, "not-found")
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Navigate(b.base+"/no/such/page"))
	if err != nil || resp == nil || resp.Status != http.StatusNotFound {
		t.Fatalf("an unknown address: %v %v, want 404", resp, err)
	}
	b.see("There is no page at this address", "Go to the start page")
	b.shot("unknown-address")
	b.phoneShot("unknown-address")

	b.open("/problems")
	for _, code := range []string{models.CodePreconditionFailed, models.CodeNotAMember, models.CodeSeatsExhausted} {
		b.see(code)
	}
	b.shot("problems")
	b.phoneShot("problems")
	b.click(`main a[href$="/problems/` + models.CodePreconditionFailed + `"]`)
	b.see(models.CodePreconditionFailed, "412")
	b.shot("problem")
}

func staffPagesJourney(t *testing.T, browser context.Context, shots string) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps)
	a.product(t, ops.Token, "EDGE-GW", "Edge Gateway", [3]string{"4.1", "2025-09-15", "full"}, [3]string{"3.2", "2023-05-10", "discontinued"})

	o := newTab(t, browser, a, shots, "ops")
	o.signIn(ops.Email, ops.Password)
	o.open("/staff/products")
	o.see("EDGE-GW", "Edge Gateway", "4.1", "3.2")
	o.shot("products")
	o.phoneShot("products")

	root := a.NewStaff(t, models.RoleSuperadmin)
	s := newTab(t, browser, a, shots, "superadmin")
	s.signIn(root.Email, root.Password)
	for _, page := range []struct{ path, text string }{
		{"/staff/users", root.Email},
		{"/staff/api-keys", "API keys"},
		{"/staff/audit", "product.created"},
		{"/staff/webhooks", "Webhooks"},
	} {
		s.open(page.path)
		s.see(page.text)
		name := strings.TrimPrefix(page.path, "/staff/")
		s.shot(name)
		s.phoneShot(name)
	}
}
