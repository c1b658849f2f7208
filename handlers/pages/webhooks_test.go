package pages_test

// The webhook pages of staff superadmin, through the real router, the real River worker and real
// receivers (the test app allows http:// and private addresses, as
// ENTITLED_WEBHOOK_ALLOW_PRIVATE=true does).

import (
	"context"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"entitled/handlers/handlerstest"
	"entitled/models"
)

// pageReceiver answers every delivery with its current status, and keeps what it got.
type pageReceiver struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []receivedHook
}

type receivedHook struct {
	header http.Header
	body   []byte
}

func newPageReceiver(t *testing.T, status int) *pageReceiver {
	r := &pageReceiver{}
	r.status.Store(int32(status))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, receivedHook{req.Header.Clone(), b})
		r.mu.Unlock()
		w.WriteHeader(int(r.status.Load()))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *pageReceiver) received() []receivedHook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedHook(nil), r.got...)
}

// waitForDeliveries waits until the endpoint's deliveries (newest first) satisfy ok, and returns
// them. A failed attempt leaves its retry scheduled for later, which storetest.Settle would wait
// for.
func (a *testApp) waitForDeliveries(t *testing.T, id string, ok func(ds []models.WebhookDelivery) bool) []models.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, _, err := a.Webhooks.Deliveries(context.Background(), id, models.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if ok(ds) {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook %s: deliveries %+v after 30 s", id, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForDelivery waits until the endpoint's newest delivery satisfies ok, and returns it.
func (a *testApp) waitForDelivery(t *testing.T, id string, ok func(d models.WebhookDelivery) bool) models.WebhookDelivery {
	t.Helper()
	return a.waitForDeliveries(t, id, func(ds []models.WebhookDelivery) bool { return len(ds) > 0 && ok(ds[0]) })[0]
}

var webhookSecretRE = regexp.MustCompile(`value="(whsec_[^"]+)"`)

// shownSecret is the secret a page shows ("" when none).
func shownSecret(body string) string {
	if m := webhookSecretRE.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// webhookID is the id of the endpoint with the URL, read through the API.
func (a *testApp) webhookID(t *testing.T, token, u string) string {
	t.Helper()
	for _, e := range a.Do(t, "GET", "/v1/webhooks", token, nil).Items() {
		if e["url"] == u {
			return e["id"].(string)
		}
	}
	t.Fatalf("no webhook %s", u)
	return ""
}

func instant(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

func itoaID(n int64) string { return strconv.FormatInt(n, 10) }

func cloneForm(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// A superadmin registers an endpoint and is shown its secret once; pings it and sees the
// delivery's failed attempt with its answer; retries it once the receiver is back; rotates the
// secret (shown once too); disables, enables and deletes the endpoint. Refused forms say why
// next to the field.
func TestWebhookPages_SuperadminManagesAnEndpoint(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.NewStaff(t, models.RoleSuperadmin)
		ops := a.NewStaff(t, models.RoleOps)
		_, acct, _ := a.FreshLicense(t, ops.Token, nil)
		b := a.SignedIn(t, su)
		rcv := newPageReceiver(t, http.StatusServiceUnavailable)
		hookURL := rcv.srv.URL + "/in"

		wantPage(t, b.Get(t, "/account"), http.StatusOK, `<a href="/staff/webhooks">Webhooks</a>`)
		wantPage(t, b.Get(t, "/staff/webhooks"), http.StatusOK, "No endpoint is registered", `action="/staff/webhooks"`, `<label for="wh-url">`,
			`value="*"`, "<code>license_key.issued</code>")

		// Refused forms keep what was typed and say why next to the field.
		p := b.Submit(t, "/staff/webhooks", url.Values{"url": {hookURL}, "events": {"member.updated nope"}, "description": {"CRM"}})
		wantPage(t, p, http.StatusBadRequest, `id="wh-events-error"`, "&#34;nope&#34; is not an event type.", `aria-invalid="true"`, `value="member.updated nope"`, `value="CRM"`)
		p = b.Submit(t, "/staff/webhooks", url.Values{"url": {"ftp://example.com/x"}, "events": {"*"}})
		wantPage(t, p, http.StatusUnprocessableEntity, `id="wh-url-error"`, "A webhook URL must be https://.")
		p = b.Submit(t, "/staff/webhooks", url.Values{"url": {hookURL}, "events": {""}})
		wantPage(t, p, http.StatusBadRequest, `id="wh-events-error"`, "Name at least one event type, or * for every event.")
		p = b.Submit(t, "/staff/webhooks", url.Values{"url": {hookURL}, "events": {"*"}, "account_id": {"9999999"}})
		wantPage(t, p, http.StatusUnprocessableEntity, `id="wh-account-error"`, "There is no account 9999999")
		if items := a.Do(t, "GET", "/v1/webhooks", su.Token, nil).Items(); len(items) != 0 {
			t.Fatalf("a refused form registered %v", items)
		}

		// Registered: the answer shows the secret, once, with a warning.
		p = b.Submit(t, "/staff/webhooks", url.Values{"url": {hookURL}, "events": {"member.updated, license_key.issued ping"}, "description": {"CRM"}})
		wantPage(t, p, http.StatusCreated, "The endpoint is registered", "shown only once", hookURL, "member.updated, license_key.issued, ping")
		secret := shownSecret(p.Body)
		if len(secret) != len("whsec_")+44 {
			t.Fatalf("secret %q on\n%s", secret, p)
		}
		id := a.webhookID(t, su.Token, hookURL)
		path := "/staff/webhooks/" + id
		// A filtered one, on an account.
		filtered := rcv.srv.URL + "/filtered"
		wantPage(t, b.Submit(t, "/staff/webhooks", url.Values{"url": {filtered}, "events": {"*"}, "account_id": {acct}}), http.StatusCreated)

		p = b.Get(t, "/staff/webhooks")
		wantPage(t, p, http.StatusOK, `href="`+path+`"`, hookURL, "CRM", "member.updated, license_key.issued, ping", filtered, acct,
			`class="badge ok">Enabled<`)
		p2 := b.Get(t, path)
		wantPage(t, p2, http.StatusOK, hookURL, "No delivery yet", "Send a ping", "Disable", "Rotate the secret…", "Delete…")
		for _, pg := range []string{p.Body, p2.Body} {
			if strings.Contains(pg, "whsec_") || strings.Contains(pg, "shown only once") {
				t.Fatal("the secret is shown again")
			}
		}

		// Ping: queued, then attempted; the receiver answers 503, so the delivery is pending with
		// its next attempt scheduled.
		p = b.Submit(t, path+"/ping", nil)
		if p.Status != http.StatusSeeOther || p.Location != path {
			t.Fatalf("ping: %s", p)
		}
		wantPage(t, b.Follow(t, p), http.StatusOK, "A ping is queued")
		d := a.waitForDelivery(t, id, func(d models.WebhookDelivery) bool { return len(d.Attempts) == 1 })
		did := itoaID(d.ID)
		p = b.Get(t, path)
		wantPage(t, p, http.StatusOK, `id="delivery-`+did+`"`, ">ping<", d.EventID, `class="badge warn">Pending<`, "next attempt "+instant(*d.NextAttemptAt),
			instant(d.Attempts[0].At), `<span class="mono">503</span>`, itoaID(d.Attempts[0].DurationMS)+" ms", `action="`+path+`/deliveries/`+did+`/retry"`)

		// Retry, now that the receiver is back: the delivery succeeds, signed with the secret shown.
		rcv.status.Store(http.StatusNoContent)
		p = b.Submit(t, path+"/deliveries/"+did+"/retry", nil)
		if p.Status != http.StatusSeeOther || p.Location != path {
			t.Fatalf("retry: %s", p)
		}
		wantPage(t, b.Follow(t, p), http.StatusOK, "One more attempt of delivery "+did+" is queued now.")
		d = a.waitForDelivery(t, id, func(d models.WebhookDelivery) bool { return d.Status == models.WebhookDeliverySucceeded })
		p = b.Get(t, path)
		wantPage(t, p, http.StatusOK, `class="badge ok">Succeeded<`, `<span class="mono">503</span>`, `<span class="mono">204</span>`)
		if strings.Contains(p.Body, "/deliveries/"+did+"/retry") {
			t.Error("a succeeded delivery offers a retry")
		}
		got := rcv.received()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || wh.Verify(got[1].body, got[1].header) != nil || got[1].header.Get("webhook-id") != d.EventID {
			t.Fatalf("received %d deliveries; the last does not verify with the secret shown", len(got))
		}
		// A succeeded delivery is not retried: said on the endpoint's page.
		wantPage(t, b.Submit(t, path+"/deliveries/"+did+"/retry", nil), http.StatusConflict, "succeeded already", hookURL)
		wantPage(t, b.Submit(t, path+"/deliveries/424242/retry", nil), http.StatusNotFound)

		// Rotate: asked first, then the new secret, once.
		wantPage(t, b.Submit(t, path+"/rotate-secret", nil), http.StatusOK, "Give this endpoint a new secret?", "Yes, rotate the secret", hookURL)
		p = b.Submit(t, path+"/rotate-secret", url.Values{"confirm": {"yes"}})
		wantPage(t, p, http.StatusOK, "The secret is rotated", "shown only once", "New signing secret")
		rotated := shownSecret(p.Body)
		if rotated == "" || rotated == secret {
			t.Fatalf("rotated secret %q (was %q)", rotated, secret)
		}
		if p = b.Get(t, path); strings.Contains(p.Body, "whsec_") {
			t.Fatal("the rotated secret is shown again")
		}

		// Disable and enable again.
		p = b.Submit(t, path+"/disable", nil)
		wantPage(t, b.Follow(t, p), http.StatusOK, "The endpoint is disabled", `class="badge muted">Disabled<`, `action="`+path+`/enable"`)
		if e := a.Do(t, "GET", "/v1/webhooks/"+id, su.Token, nil); e.Body["enabled"] != false {
			t.Fatalf("disabled: %s", e)
		}
		p = b.Submit(t, path+"/enable", nil)
		wantPage(t, b.Follow(t, p), http.StatusOK, "The endpoint is enabled", `class="badge ok">Enabled<`, `action="`+path+`/disable"`)
		if e := a.Do(t, "GET", "/v1/webhooks/"+id, su.Token, nil); e.Body["enabled"] != true {
			t.Fatalf("enabled: %s", e)
		}
		wantPage(t, b.Submit(t, path+"/explode", nil), http.StatusNotFound)

		// Delete: asked first, in red; then gone.
		wantPage(t, b.Submit(t, path+"/delete", nil), http.StatusOK, "Delete this endpoint?", `class="danger"`, `href="`+path+`"`)
		p = b.Submit(t, path+"/delete", url.Values{"confirm": {"yes"}})
		if p.Status != http.StatusSeeOther || p.Location != "/staff/webhooks" {
			t.Fatalf("delete: %s", p)
		}
		p = b.Follow(t, p)
		wantPage(t, p, http.StatusOK, "The endpoint "+hookURL+" is deleted", filtered)
		if strings.Contains(p.Body, `href="`+path+`"`) {
			t.Error("the deleted endpoint is still listed")
		}
		wantPage(t, b.Get(t, path), http.StatusNotFound)
		want(t, a.Do(t, "GET", "/v1/webhooks/"+id, su.Token, nil), http.StatusNotFound, models.CodeNotFound)
	})
}

// An attempt that got no answer shows its error; the deliveries come newest first, a page at a
// time, with a link to older ones.
func TestWebhookPages_DeliveriesPageByPage(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.NewStaff(t, models.RoleSuperadmin)
		b := a.SignedIn(t, su)
		b.Get(t, "/staff/webhooks")
		ctx := context.Background()

		// A receiver that is gone: the attempt has an error and no status code.
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		wantPage(t, b.Submit(t, "/staff/webhooks", url.Values{"url": {gone.URL}, "events": {"*"}}), http.StatusCreated)
		goneID := a.webhookID(t, su.Token, gone.URL)
		wantPage(t, b.Follow(t, b.Submit(t, "/staff/webhooks/"+goneID+"/ping", nil)), http.StatusOK)
		d := a.waitForDelivery(t, goneID, func(d models.WebhookDelivery) bool { return len(d.Attempts) == 1 })
		if d.Attempts[0].Error == "" {
			t.Fatalf("attempt %+v, want an error", d.Attempts[0])
		}
		wantPage(t, b.Get(t, "/staff/webhooks/"+goneID), http.StatusOK, template.HTMLEscapeString(d.Attempts[0].Error), `class="badge warn">Pending<`)
		p := b.Get(t, "/staff/webhooks")
		wantPage(t, p, http.StatusOK, `class="badge bad">Failing<`, instant(d.Attempts[0].At))

		rcv := newPageReceiver(t, http.StatusOK)
		wantPage(t, b.Submit(t, "/staff/webhooks", url.Values{"url": {rcv.srv.URL}, "events": {"ping"}}), http.StatusCreated)
		id := a.webhookID(t, su.Token, rcv.srv.URL)
		for range 26 {
			if err := a.Webhooks.Ping(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		all := a.waitForDeliveries(t, id, func(ds []models.WebhookDelivery) bool {
			return len(ds) == 26 && !slices.ContainsFunc(ds, func(d models.WebhookDelivery) bool { return d.Status != models.WebhookDeliverySucceeded })
		})
		p = b.Get(t, "/staff/webhooks/"+id)
		wantPage(t, p, http.StatusOK, "Recent deliveries", `id="delivery-`+itoaID(all[0].ID)+`"`, `id="delivery-`+itoaID(all[24].ID)+`"`)
		if strings.Contains(p.Body, `id="delivery-`+itoaID(all[25].ID)+`"`) || strings.Count(p.Body, `class="badge ok">Succeeded<`) != 25 {
			t.Fatalf("the first page is not the 25 newest:\n%s", p)
		}
		next := regexp.MustCompile(`href="(/staff/webhooks/` + id + `\?cursor=[^"]+)">Older deliveries<`).FindStringSubmatch(p.Body)
		if next == nil {
			t.Fatalf("no link to older deliveries:\n%s", p)
		}
		p = b.Get(t, html.UnescapeString(next[1]))
		wantPage(t, p, http.StatusOK, "Older deliveries", `id="delivery-`+itoaID(all[25].ID)+`"`, "Back to the newest deliveries")
		if strings.Count(p.Body, `class="badge ok">Succeeded<`) != 1 {
			t.Fatalf("the second page:\n%s", p)
		}
	})
}

// Only staff superadmin: other staff and customers are refused every webhook page and form, the
// anonymous are sent to log in, a form without this session's CSRF token is refused, and none of
// them changes anything. Only superadmin see the link.
func TestWebhookPages_OnlySuperadmin(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.NewStaff(t, models.RoleSuperadmin)
		rcv := newPageReceiver(t, http.StatusNoContent)
		sb := a.SignedIn(t, su)
		sb.Get(t, "/staff/webhooks")
		wantPage(t, sb.Submit(t, "/staff/webhooks", url.Values{"url": {rcv.srv.URL}, "events": {"*"}}), http.StatusCreated)
		id := a.webhookID(t, su.Token, rcv.srv.URL)
		wantPage(t, sb.Follow(t, sb.Submit(t, "/staff/webhooks/"+id+"/ping", nil)), http.StatusOK)
		d := a.waitForDelivery(t, id, func(d models.WebhookDelivery) bool { return d.Status == models.WebhookDeliverySucceeded })
		path := "/staff/webhooks/" + id
		gets := []string{"/staff/webhooks", path}
		posts := []string{"/staff/webhooks", path + "/ping", path + "/enable", path + "/disable", path + "/rotate-secret", path + "/delete",
			path + "/deliveries/" + itoaID(d.ID) + "/retry"}
		form := url.Values{"url": {rcv.srv.URL + "/other"}, "events": {"*"}, "confirm": {"yes"}}

		callers := []struct {
			who string
			u   *handlerstest.User
		}{
			{"anonymous", nil}, {"a customer", a.NewUser(t)}, {"staff ops", a.NewStaff(t, models.RoleOps)},
			{"staff renewals", a.NewStaff(t, models.RoleRenewals)}, {"staff support", a.NewStaff(t, models.RoleSupport)},
			{"staff of every other role", a.NewStaff(t, models.RoleOps, models.RoleRenewals, models.RoleSupport)},
		}
		for _, c := range callers {
			b := a.Browser()
			if c.u != nil {
				b = a.SignedIn(t, c.u)
				if p := b.Get(t, "/account"); strings.Contains(p.Body, `href="/staff/webhooks"`) {
					t.Errorf("%s sees the link to the webhooks", c.who)
				}
			} else {
				b.Get(t, "/login") // a form: this browser's CSRF token
			}
			refused := func(method, path string, p *handlerstest.Page) {
				t.Helper()
				if c.u == nil {
					if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login?next=") {
						t.Errorf("%s %s as %s: %s, want sent to log in", method, path, c.who, p)
					}
				} else if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "for staff with the superadmin role") {
					t.Errorf("%s %s as %s: %s, want 403", method, path, c.who, p)
				}
			}
			for _, path := range gets {
				refused("GET", path, b.Get(t, path))
			}
			for _, path := range posts {
				refused("POST", path, b.Submit(t, path, cloneForm(form)))
			}
		}

		// The superadmin's own forms, without the session's token.
		for _, path := range posts {
			for name, tok := range map[string]string{"missing": "", "anonymous": csrfToken(sb.Cookies[csrfCookie].Value)} {
				f := cloneForm(form)
				if tok != "" {
					f.Set(csrfField, tok)
				}
				p := sb.Do(t, "POST", path, f)
				if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "security token") {
					t.Errorf("POST %s with the %s token: %s", path, name, p)
				}
			}
		}

		// Nothing changed: one endpoint, enabled, with one delivery, and signing with its secret
		// alone (not rotated).
		items := a.Do(t, "GET", "/v1/webhooks", su.Token, nil).Items()
		if len(items) != 1 || items[0]["id"] != id || items[0]["enabled"] != true {
			t.Fatalf("endpoints after the refusals: %v", items)
		}
		ds := a.Do(t, "GET", "/v1/webhooks/"+id+"/deliveries", su.Token, nil).Items()
		if len(ds) != 1 || len(ds[0]["attempts"].([]any)) != 1 {
			t.Fatalf("deliveries after the refusals: %v", ds)
		}
		want(t, a.Do(t, "POST", "/v1/webhooks/"+id+"/ping", su.Token, nil), http.StatusAccepted)
		a.waitForDeliveries(t, id, func(ds []models.WebhookDelivery) bool {
			return len(ds) == 2 && ds[0].Status == models.WebhookDeliverySucceeded
		})
		got := rcv.received()
		if len(got) != 2 || len(strings.Fields(got[1].header.Get("webhook-signature"))) != 1 {
			t.Fatalf("after the refusals: %d deliveries, signature %q (a rotation signs with two)", len(got), got[len(got)-1].header.Get("webhook-signature"))
		}
	})
}
