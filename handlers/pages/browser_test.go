package pages_test

// Browser tests: headless Chromium (Debian's chromium package) driven by chromedp through the
// customer's and the renewal representative's journeys, against the real server on a real
// database. One browser serves the whole test binary; each journey has its own browser context
// (its own cookies). A screenshot of every step is saved to ENTITLED_SCREENSHOTS when it is set
// (a folder; kept), else to the test's temporary folder.
//
// Without Chromium the tests skip, saying why, except under CI, where they fail: CI installs it.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
)

// chromiumPath finds the browser, or skips (fails under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but no Chromium is installed: .ci/run installs Debian's chromium package; install it with apt-get install chromium")
	}
	t.Skip("browser tests skipped: no Chromium on PATH (Debian: apt-get install chromium)")
	return ""
}

// startBrowser starts one headless Chromium with a fresh profile, closed when the test ends.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,  // --no-sandbox: the tests run as root in a container
		chromedp.DisableGPU, // --disable-gpu
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// Start it now, so that a browser that cannot start fails here with its reason.
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return browser
}

// screenshotDir is where the steps' screenshots go.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("ENTITLED_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// tab is one journey's browser tab on one test server.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	name  string
	step  int
}

// newTab opens a tab in a browser context of its own (cookies of its own) for the test server.
func newTab(t *testing.T, browser context.Context, a *testApp, shots, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	return &tab{t: t, ctx: ctx, base: a.Srv.URL, shots: shots, name: name}
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.mainText())
	}
}

// open navigates to a path of the server.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
}

// fill types a value into the field with the id, as a person does.
func (b *tab) fill(id, value string) {
	b.t.Helper()
	b.do("fill #"+id, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value))
}

// set sets a field's value at once (date inputs, selects).
func (b *tab) set(id, value string) {
	b.t.Helper()
	b.do("set #"+id, chromedp.SetValue(chromedp.ID(id), value))
}

// click clicks the element and waits for the page it leads to.
func (b *tab) click(css string) {
	b.t.Helper()
	// A click that navigates nowhere (a form the browser finds invalid) fails in time.
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("click %s: %v\n%s", css, err, b.mainText())
	}
	if resp != nil && resp.Status >= 500 {
		b.t.Fatalf("click %s: %d\n%s", css, resp.Status, b.mainText())
	}
}

func (b *tab) mainText() string {
	txt, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		return "(no page: " + err.Error() + ")"
	}
	return txt
}

// see fails unless the page's main content has every text.
func (b *tab) see(texts ...string) {
	b.t.Helper()
	txt, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		b.t.Fatalf("read the page: %v", err)
	}
	for _, s := range texts {
		if !strings.Contains(txt, s) {
			loc, _ := chromedp.Run(b.ctx, chromedp.Location())
			b.t.Fatalf("%s lacks %q:\n%s", loc, s, txt)
		}
	}
}

// at fails unless the browser is at the path.
func (b *tab) at(path string) {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil || loc != b.base+path {
		b.t.Fatalf("at %q (%v), want %s", loc, err, b.base+path)
	}
}

// shot saves a screenshot of the whole page as the journey's next step.
func (b *tab) shot(what string) {
	b.t.Helper()
	b.step++
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", what, err)
	}
	file := filepath.Join(b.shots, fmt.Sprintf("%s-%02d-%s.png", b.name, b.step, what))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// labelsOverValues counts the table cells that, as a phone lays them out, print their label
// (the ::before of data-label) over their value: their left padding is narrower than the label.
const labelsOverValues = `[...document.querySelectorAll('table.list td[data-label]')].filter(td => {
	const label = getComputedStyle(td, '::before');
	return label.position === 'absolute' && parseFloat(getComputedStyle(td).paddingLeft) < parseFloat(label.width);
}).map(td => td.closest('table').className + ' / ' + td.dataset.label)`

// phoneShot saves a screenshot of the page as a phone (390 px) shows it, and fails when a table
// prints a label over a value there.
func (b *tab) phoneShot(what string) {
	b.t.Helper()
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	overlaps, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](labelsOverValues))
	if err != nil {
		b.t.Fatalf("check the phone layout: %v", err)
	}
	if len(overlaps) > 0 {
		b.t.Errorf("%s on a phone: labels printed over values in %v", what, overlaps)
	}
	b.shot(what + "-phone")
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 900))
}

// The browser journeys, one browser for both.
func TestBrowser_Journeys(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)
	t.Run("customer signs up, registers a license, invites a colleague and takes a license key", func(t *testing.T) { customerJourney(t, browser, shots) })
	t.Run("renewal representative renews a contract expiring in 20 days", func(t *testing.T) { renewalsJourney(t, browser, shots) })
}

// product adds a product with versions (version, released_on, phase) as staff ops.
func (a *testApp) product(t *testing.T, ops, sku, name string, versions ...[3]string) {
	t.Helper()
	want(t, a.Do(t, "POST", "/v1/products", ops, map[string]any{"sku": sku, "name": name}), http.StatusCreated)
	for _, v := range versions {
		want(t, a.Do(t, "POST", "/v1/products/"+sku+"/versions", ops, map[string]any{"version": v[0], "released_on": v[1], "phase": v[2]}), http.StatusCreated)
	}
}

// sale orders one license of the product with support to an account and its contact, and
// returns the License Number and the contract's id.
func (a *testApp) sale(t *testing.T, ops, sku, account, contact, email, program, startsOn, endsOn string) (string, string) {
	t.Helper()
	r := a.Do(t, "POST", "/v1/orders", ops, map[string]any{
		"order_ref": fmt.Sprintf("SO-%d", a.Seq.Add(1)), "account": map[string]any{"name": account},
		"primary_contact": map[string]any{"name": contact, "email": email},
		"items": []any{map[string]any{"sku": sku, "quantity": 10, "kind": "perpetual",
			"support": map[string]any{"program": program, "starts_on": startsOn, "ends_on": endsOn}}},
	})
	want(t, r, http.StatusCreated)
	l := r.Licenses()[0]
	return l["license_number"].(string), l["contract_id"].(string)
}

func customerJourney(t *testing.T, browser context.Context, shots string) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps)
	a.product(t, ops.Token, "EDGE-GW", "Edge Gateway", [3]string{"3.2", "2023-05-10", "discontinued"}, [3]string{"4.0", "2024-11-04", "limited"},
		[3]string{"4.1", "2025-09-15", "full"}, [3]string{"5.0", "2026-02-02", "full"})
	ln, _ := a.sale(t, ops.Token, "EDGE-GW", "Northwind Traders", "Dana Whitfield", "dana@northwind.example", "24x7", "2025-07-01", "2026-06-30")

	b := newTab(t, browser, a, shots, "customer")
	b.open("/")
	b.see("Your licenses and support, in one place")
	b.shot("home")

	b.click(`.hero a[href="/signup"]`)
	email := "robin@northwind.example"
	b.fill("name", "Robin Quinn")
	b.fill("email", email)
	b.fill("password", testPassword)
	b.fill("password_confirm", testPassword)
	b.shot("signup")
	b.click(`form[action="/signup"] button[type=submit]`)
	b.see("We have sent a letter to " + email)
	b.shot("check-mail")

	// The letter's link, from the mail sink, on this server.
	letter := a.Sink.WaitFor(t, email, 0, testBaseURL+"/verify?token=")
	link := a.Srv.URL + "/verify?token=" + url.QueryEscape(mailtest.LinkToken(t, letter))
	b.do("open the link", chromedp.Navigate(link))
	b.see("Confirm that this email address is yours")
	b.click(`form[action="/verify"] button`)
	b.see("Thank you: your email address is confirmed.")
	b.shot("verified")

	b.click(`main a.button`)
	b.fill("email", email)
	b.fill("password", testPassword)
	b.shot("login")
	b.click(`form[action="/login"] button[type=submit]`)
	b.at("/register")
	b.fill("license_number", strings.ToLower(ln))
	b.shot("register")
	b.click(`input[value="license_number"] ~ button[type=submit]`)
	b.see("License "+ln+" is registered to you.", "You are its first administrator")
	b.shot("registered")

	b.click(`main a.button[href="/licenses/` + ln + `"]`)
	b.see("Support Active", "Support is active until 2026-06-30 (in 120 days).", "24x7", "Response targets", "1 hour", "around the clock",
		"Open support cases", "Premier support: faster response", "The Premier add-on is not part of this contract.",
		"Discontinued", "This version is discontinued", "Limited support")
	b.shot("license")
	b.phoneShot("license")

	b.open("/licenses")
	b.see(ln, "Active", "Administrator, Support User, License User", "2026-06-30", "in 120 days")
	b.shot("my-licenses")

	b.open("/licenses/" + ln + "/members")
	colleague := "sam@northwind.example"
	b.fill("invite-email", colleague)
	b.do("tick License User", chromedp.Click(chromedp.CSS(`form input[name="roles"][value="license"]`)))
	b.click(`input[name="form"][value="add"] ~ button[type=submit]`)
	b.see("Invitation sent to " + colleague)
	b.shot("invited")
	a.Sink.WaitFor(t, colleague, 0, testBaseURL+"/invitations?token=")

	// A license key for a machine.
	b.click(`.tabs a[href="/licenses/` + ln + `/keys"]`)
	b.see("Get a key for a machine", "0 of 10 seats used")
	b.fill("key-host", "build-01.northwind.example")
	b.fill("key-fp", "4f:2a:9c:11:07:be")
	b.set("key-version", "4.1")
	b.shot("keys")
	b.click(`form[action="/licenses/` + ln + `/keys"] button[type=submit]`)
	b.see("A new key for build-01.northwind.example is ready.", "License key")
	key, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("license-key")))
	if err != nil || strings.Count(key, ".") != 2 {
		t.Fatalf("the key on the page: %q %v", key, err)
	}
	// The key can be downloaded as a file (no script needed) and copied (the script shows the
	// button).
	download, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`(() => { const a = document.querySelector('a[download]'); return [decodeURIComponent(a.href.slice(a.href.indexOf(',') + 1)), a.getAttribute('download')]; })()`))
	if err != nil || len(download) != 2 || download[0] != key || !strings.HasSuffix(download[1], ".lic") {
		t.Fatalf("the download link: %q %v", download, err)
	}
	hidden, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector('button[data-copy]').hidden`))
	if err != nil || hidden {
		t.Fatalf("the copy button is hidden (%v): the script did not run", err)
	}
	b.shot("license-key")
	b.click(`main a.button[href$="/keys"]`)
	b.see("1 of 10 seats used", "build-01.northwind.example", "4f:2a:9c:11:07:be")
	b.shot("keys-issued")

	b.open("/licenses/" + ln + "/audit")
	b.see("Registered as first administrator", "Colleague invited", email)
	b.shot("audit")
}

func renewalsJourney(t *testing.T, browser context.Context, shots string) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps).Token
	a.product(t, ops, "EDGE-GW", "Edge Gateway", [3]string{"4.1", "2025-09-15", "full"})
	a.product(t, ops, "FLEET", "Fleet Manager", [3]string{"2.3", "2025-04-01", "full"})
	// Today is 2026-03-02: one contract ends in 20 days, others sooner, later, or already.
	a.sale(t, ops, "FLEET", "Contoso Pharmaceuticals", "Priya Raman", "priya.raman@contoso.example", "standard", "2025-03-08", "2026-03-07")
	_, target := a.sale(t, ops, "EDGE-GW", "Fabrikam Logistics", "Jonas Berg", "jonas.berg@fabrikam.example", "24x7", "2025-03-23", "2026-03-22")
	a.sale(t, ops, "EDGE-GW", "Tailspin Toys", "Ana Souza", "ana@tailspin.example", "standard", "2025-04-17", "2026-04-16")
	a.sale(t, ops, "FLEET", "Wide World Importers", "Kenji Mori", "k.mori@wideworld.example", "24x7", "2025-05-22", "2026-05-21")
	a.sale(t, ops, "FLEET", "Adventure Works", "Lena Fischer", "lena@adventure.example", "standard", "2025-09-19", "2026-09-18")
	a.sale(t, ops, "EDGE-GW", "Litware Inc", "Omar Haddad", "omar@litware.example", "standard", "2025-02-02", "2026-02-01")
	_, grace := a.sale(t, ops, "FLEET", "Proseware Ltd", "Mia Laurent", "mia@proseware.example", "standard", "2025-02-21", "2026-02-20")
	rs := a.NewStaff(t, models.RoleRenewals)
	want(t, a.Do(t, "POST", "/v1/contracts/"+grace+"/grace", rs.Token, map[string]any{"until": "2026-03-20", "reason": "PO in approval"}), http.StatusOK)

	b := newTab(t, browser, a, shots, "renewals")
	b.signIn(rs.Email, rs.Password)
	b.at("/renewals")
	b.see("Expiring within 90 days", "Fabrikam Logistics", "Proseware Ltd", "Download CSV")
	b.shot("dashboard")

	b.click(`a.tile[href="/renewals?within=30"]`)
	b.see("Expiring within 30 days", "Fabrikam Logistics", "in 20 days")
	b.shot("within-30-days")
	b.phoneShot("within-30-days")

	b.click(`a[href^="/contracts/` + target + `?"] strong`)
	b.see("Fabrikam Logistics", "Expiring soon", "2026-03-22", "in 20 days", "Renew", "Grant grace", "Terminate")
	b.shot("contract")
	b.phoneShot("contract")

	b.set("renew-ends", "2027-03-22")
	b.click(`form[action="/contracts/` + target + `/renew"] button[type=submit]`)
	b.see("Renew this contract until 2027-03-22?", "2026-03-23 to 2027-03-22")
	b.shot("confirm-renewal")
	b.click(`.confirm form button[type=submit]`)
	b.at("/renewals?within=30")
	b.see("Renewed: Fabrikam Logistics", "2027-03-22")
	b.shot("renewed")
	rows, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(rows, "Fabrikam Logistics") != 1 { // only in the message above the list
		t.Fatalf("the renewed contract is still in the 30-day list:\n%s", rows)
	}
	r := a.Do(t, "GET", "/v1/renewals?within_days=30", rs.Token, nil)
	want(t, r, http.StatusOK)
	for _, it := range r.Items() {
		if it["id"] == target {
			t.Fatalf("the API still lists the renewed contract: %s", r)
		}
	}
}

// The portal's small dead ends of issue 23, in a real browser at desktop width and at a phone's
// 390 px: pending invitations, the only administrator, unknown addresses and the problem pages,
// the staff pages for what only the API and the CLI did.

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

// signIn logs the tab in through the form and waits for the page it leads to: next, when given,
// is where the sign-in page was asked to lead (its ?next=).
func (b *tab) signIn(email, password string, next ...string) {
	b.t.Helper()
	path := "/login"
	if len(next) > 0 {
		path += "?next=" + url.QueryEscape(next[0])
	}
	b.open(path)
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
