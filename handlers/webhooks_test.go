package handlers

// Webhooks through the real router and the real River worker: receivers are httptest TLS
// servers (the test app allows private addresses and trusts httptest's certificate), and every
// delivery is verified with the Standard Webhooks library.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"entitled/models"
	"entitled/models/storetest"
)

type hookMessage struct {
	header http.Header
	body   []byte
	Type   string         `json:"type"`
	At     string         `json:"timestamp"`
	Data   map[string]any `json:"data"`
}

// hookReceiver records every delivery it gets and answers 204.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookMessage
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		m := hookMessage{header: req.Header.Clone(), body: b}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("receiver: body %s: %v", b, err)
		}
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) messages() []hookMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookMessage(nil), r.got...)
}

// verified checks every message with the secrets (each must verify it) and returns them.
func (r *hookReceiver) verified(t *testing.T, secrets ...string) []hookMessage {
	t.Helper()
	ms := r.messages()
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatalf("secret %q: %v", s, err)
		}
		for _, m := range ms {
			if err := wh.Verify(m.body, m.header); err != nil {
				t.Errorf("%s %s: does not verify: %v", m.Type, m.header.Get("webhook-id"), err)
			}
		}
	}
	return ms
}

func (a *testApp) newHook(t *testing.T, token string, body map[string]any) (id, secret string) {
	t.Helper()
	r := a.do(t, "POST", "/v1/webhooks", token, body)
	want(t, r, http.StatusCreated)
	return r.str("id"), r.str("secret")
}

// newSubscriber is a new receiver and the secret of a webhook, made with token, that sends it
// events.
func (a *testApp) newSubscriber(t *testing.T, token string, events ...string) (*hookReceiver, string) {
	t.Helper()
	rcv := newHookReceiver(t)
	_, secret := a.newHook(t, token, map[string]any{"url": rcv.srv.URL, "events": events})
	return rcv, secret
}

func TestWebhooks_RegisterListPingAndVerify(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		rcv := newHookReceiver(t)
		r := a.do(t, "POST", "/v1/webhooks", su, map[string]any{"url": rcv.srv.URL + "/in", "events": []string{"*"}, "description": "CRM"})
		want(t, r, http.StatusCreated)
		id, secret := r.str("id"), r.str("secret")
		if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 || r.body["enabled"] != true || r.str("description") != "CRM" {
			t.Fatalf("created: %s", r)
		}
		for _, path := range []string{"/v1/webhooks/" + id, "/v1/webhooks"} {
			g := a.do(t, "GET", path, su, nil)
			want(t, g, http.StatusOK)
			if strings.Contains(string(g.raw), "whsec_") || strings.Contains(string(g.raw), `"secret"`) {
				t.Errorf("GET %s shows the secret: %s", path, g)
			}
		}
		if items := a.do(t, "GET", "/v1/webhooks", su, nil).items(); len(items) != 1 || items[0]["id"] != id {
			t.Errorf("list: %v", items)
		}

		want(t, a.do(t, "POST", "/v1/webhooks", su, map[string]any{"url": rcv.srv.URL, "events": []string{"nope"}}), http.StatusBadRequest, models.CodeValidation)
		want(t, a.do(t, "POST", "/v1/webhooks", su, map[string]any{"url": "ftp://example.com/x", "events": []string{"*"}}), http.StatusUnprocessableEntity, models.CodeWebhookURLRefused)
		want(t, a.do(t, "GET", "/v1/webhooks/424242", su, nil), http.StatusNotFound, models.CodeNotFound)

		want(t, a.do(t, "POST", "/v1/webhooks/"+id+"/ping", su, nil), http.StatusAccepted)
		storetest.Settle(t, a.jobs)
		ms := rcv.verified(t, secret)
		if len(ms) != 1 || ms[0].Type != models.EventPing || ms[0].Data["webhook_id"] != id {
			t.Fatalf("received %+v, want one ping", ms)
		}
		h := ms[0].header
		if !strings.HasPrefix(h.Get("User-Agent"), "entitled/") || h.Get("Content-Type") != "application/json" || !strings.HasPrefix(h.Get("webhook-id"), "msg_") {
			t.Errorf("headers %v", h)
		}
		if _, err := time.Parse(time.RFC3339, ms[0].At); err != nil {
			t.Errorf("timestamp %q: %v", ms[0].At, err)
		}
		ds := a.do(t, "GET", "/v1/webhooks/"+id+"/deliveries", su, nil)
		want(t, ds, http.StatusOK)
		items := ds.items()
		if len(items) != 1 || items[0]["status"] != "succeeded" || items[0]["event_id"] != h.Get("webhook-id") || items[0]["type"] != "ping" {
			t.Fatalf("deliveries: %s", ds)
		}
		if at := items[0]["attempts"].([]any); len(at) != 1 || at[0].(map[string]any)["status_code"] != float64(204) {
			t.Errorf("attempts %v", at)
		}
		want(t, a.do(t, "POST", "/v1/webhooks/"+id+"/deliveries/"+items[0]["id"].(string)+"/retry", su, nil), http.StatusConflict, models.CodeConflict)

		p := a.do(t, "PATCH", "/v1/webhooks/"+id, su, map[string]any{"enabled": false, "events": []string{"member.removed"}})
		want(t, p, http.StatusOK)
		if p.body["enabled"] != false || p.body["events"].([]any)[0] != "member.removed" {
			t.Errorf("patched: %s", p)
		}
		// A disabled endpoint still gets the pings staff send it, to try it before enabling it.
		want(t, a.do(t, "POST", "/v1/webhooks/"+id+"/ping", su, nil), http.StatusAccepted)
		storetest.Settle(t, a.jobs)
		if ms := rcv.verified(t, secret); len(ms) != 2 || ms[1].Type != models.EventPing {
			t.Errorf("ping to a disabled endpoint: %v", types(ms))
		}
		e := a.do(t, "PATCH", "/v1/webhooks/"+id, su, map[string]any{"enabled": true})
		want(t, e, http.StatusOK)
		if e.body["enabled"] != true || e.body["failing_since"] != nil {
			t.Errorf("enabled again: %s", e)
		}
		want(t, a.do(t, "DELETE", "/v1/webhooks/"+id, su, nil), http.StatusNoContent)
		want(t, a.do(t, "GET", "/v1/webhooks/"+id, su, nil), http.StatusNotFound, models.CodeNotFound)
		want(t, a.do(t, "POST", "/v1/webhooks/"+id+"/ping", su, nil), http.StatusNotFound, models.CodeNotFound)
	})
}

// Member events reach every enabled endpoint whose events and account match, with the
// documented data and one webhook-id for all of them; a change refused with 409 last_admin
// (rolled back) emits nothing; disabled and deleted endpoints get nothing.
func TestWebhooks_MemberEventsFiltersAndRollback(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		ops := a.newStaff(t, models.RoleOps).token
		ln, acct, _ := a.freshLicense(t, ops, nil)
		_, otherAcct, _ := a.freshLicense(t, ops, nil)
		admin, colleague := a.newUser(t), a.newUser(t)
		want(t, a.register(t, admin.token, map[string]any{"license_number": ln}), http.StatusCreated)

		all, removedOnly, thisAccount, otherAccount, disabled, deleted :=
			newHookReceiver(t), newHookReceiver(t), newHookReceiver(t), newHookReceiver(t), newHookReceiver(t), newHookReceiver(t)
		_, allSecret := a.newHook(t, su, map[string]any{"url": all.srv.URL, "events": []string{"*"}})
		_, removedSecret := a.newHook(t, su, map[string]any{"url": removedOnly.srv.URL, "events": []string{"member.removed"}})
		_, thisSecret := a.newHook(t, su, map[string]any{"url": thisAccount.srv.URL, "events": []string{"member.updated", "member.removed"}, "account_id": acct})
		a.newHook(t, su, map[string]any{"url": otherAccount.srv.URL, "events": []string{"*"}, "account_id": otherAcct})
		disabledID, _ := a.newHook(t, su, map[string]any{"url": disabled.srv.URL, "events": []string{"*"}})
		want(t, a.do(t, "PATCH", "/v1/webhooks/"+disabledID, su, map[string]any{"enabled": false}), http.StatusOK)
		deletedID, _ := a.newHook(t, su, map[string]any{"url": deleted.srv.URL, "events": []string{"*"}})
		want(t, a.do(t, "DELETE", "/v1/webhooks/"+deletedID, su, nil), http.StatusNoContent)

		path := "/v1/licenses/" + ln + "/members/"
		want(t, a.do(t, "PUT", path+colleague.email, admin.token, map[string]any{"roles": []string{"license"}}), http.StatusOK)
		want(t, a.do(t, "DELETE", path+colleague.email, admin.token, nil), http.StatusNoContent)
		want(t, a.do(t, "PUT", path+admin.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusConflict, models.CodeLastAdmin)
		want(t, a.do(t, "DELETE", path+admin.email, admin.token, nil), http.StatusConflict, models.CodeLastAdmin)
		storetest.Settle(t, a.jobs)

		// Delivered in no guaranteed order: by type.
		got := byType(t, all.verified(t, allSecret))
		if len(got) != 2 || got[models.EventMemberUpdated] == nil || got[models.EventMemberRemoved] == nil {
			t.Fatalf("the * endpoint got %d events %v, want member.updated and member.removed (and nothing for the 409s)", len(all.messages()), types(all.messages()))
		}
		upd, rem := got[models.EventMemberUpdated].Data, got[models.EventMemberRemoved].Data
		if upd["license_number"] != ln || upd["email"] != colleague.email || roleSet(upd["roles"]) != "license" || upd["version"] == nil {
			t.Errorf("member.updated data %v", upd)
		}
		if rem["license_number"] != ln || rem["email"] != colleague.email || rem["version"] == nil || rem["roles"] != nil {
			t.Errorf("member.removed data %v", rem)
		}
		if rem["version"].(float64) <= upd["version"].(float64) {
			t.Errorf("versions %v then %v, want them to grow", upd["version"], rem["version"])
		}
		if r := removedOnly.verified(t, removedSecret); len(r) != 1 || r[0].Type != models.EventMemberRemoved {
			t.Errorf("the member.removed endpoint got %v", types(r))
		}
		this := byType(t, thisAccount.verified(t, thisSecret))
		if len(this) != 2 {
			t.Fatalf("the endpoint of this account got %v", types(thisAccount.messages()))
		}
		for typ, m := range this {
			if m.header.Get("webhook-id") != got[typ].header.Get("webhook-id") {
				t.Errorf("%s: webhook-id %q and %q, want one id for every endpoint", typ, m.header.Get("webhook-id"), got[typ].header.Get("webhook-id"))
			}
		}
		if got[models.EventMemberUpdated].header.Get("webhook-id") == got[models.EventMemberRemoved].header.Get("webhook-id") {
			t.Errorf("two events share a webhook-id")
		}
		for name, r := range map[string]*hookReceiver{"other account": otherAccount, "disabled": disabled, "deleted": deleted} {
			if ms := r.messages(); len(ms) != 0 {
				t.Errorf("the %s endpoint got %v", name, types(ms))
			}
		}
	})
}

// byType indexes messages by type; a type received twice fails the test.
func byType(t *testing.T, ms []hookMessage) map[string]*hookMessage {
	t.Helper()
	out := map[string]*hookMessage{}
	for i := range ms {
		if out[ms[i].Type] != nil {
			t.Errorf("%s received twice", ms[i].Type)
		}
		out[ms[i].Type] = &ms[i]
	}
	return out
}

func types(ms []hookMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Type
	}
	return out
}

// After a rotation deliveries carry two signatures for 24 hours, each verifying with its own
// secret; after that only the new secret's.
func TestWebhooks_RotateSecretSignsWithBothFor24Hours(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		staff := a.newStaff(t, models.RoleSuperadmin)
		su := staff.token
		rcv := newHookReceiver(t)
		id, old := a.newHook(t, su, map[string]any{"url": rcv.srv.URL, "events": []string{"ping"}})
		r := a.do(t, "POST", "/v1/webhooks/"+id+"/rotate-secret", su, nil)
		want(t, r, http.StatusOK)
		fresh := r.str("secret")
		if !strings.HasPrefix(fresh, "whsec_") || fresh == old {
			t.Fatalf("rotated: %s", r)
		}
		want(t, a.do(t, "POST", "/v1/webhooks/"+id+"/ping", su, nil), http.StatusAccepted)
		storetest.Settle(t, a.jobs)
		ms := rcv.verified(t, old, fresh)
		if len(ms) != 1 || len(strings.Fields(ms[0].header.Get("webhook-signature"))) != 2 {
			t.Fatalf("within 24 h: %d messages, signature %q", len(ms), ms[0].header.Get("webhook-signature"))
		}

		a.clock.Advance(24*time.Hour + time.Second)
		su = a.login(t, staff.email, testPassword) // sessions last 12 hours
		want(t, a.do(t, "POST", "/v1/webhooks/"+id+"/ping", su, nil), http.StatusAccepted)
		storetest.Settle(t, a.jobs)
		ms = rcv.messages()
		if len(ms) != 2 {
			t.Fatalf("%d messages", len(ms))
		}
		last := ms[1]
		if len(strings.Fields(last.header.Get("webhook-signature"))) != 1 {
			t.Errorf("after 24 h: signature %q, want one", last.header.Get("webhook-signature"))
		}
		newWH, _ := standardwebhooks.NewWebhook(fresh)
		oldWH, _ := standardwebhooks.NewWebhook(old)
		if err := newWH.Verify(last.body, last.header); err != nil {
			t.Errorf("after 24 h, the new secret: %v", err)
		}
		if oldWH.Verify(last.body, last.header) == nil {
			t.Errorf("after 24 h the old secret still verifies")
		}
	})
}

// A first registration emits license.registered; a registration of a claimed license, and one
// by Account ID, emit join_request.created; approving it emits member.updated.
func TestWebhooks_RegistrationEvents(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		ops := a.newStaff(t, models.RoleOps).token
		rcv, secret := a.newSubscriber(t, su, "license.registered", "join_request.created", "member.updated")
		ln, acct, _ := a.freshLicense(t, ops, nil)
		admin, joiner, byAccount := a.newUser(t), a.newUser(t), a.newUser(t)
		want(t, a.register(t, admin.token, map[string]any{"license_number": ln}), http.StatusCreated)
		storetest.Settle(t, a.jobs)
		ms := rcv.verified(t, secret)
		if len(ms) != 1 || ms[0].Type != models.EventLicenseRegistered {
			t.Fatalf("after the first registration: %v", types(ms))
		}
		d := ms[0].Data
		user, _ := d["user"].(map[string]any)
		if d["license_number"] != ln || d["account_id"] != acct || user["email"] != admin.email || user["id"] != admin.id {
			t.Errorf("license.registered data %v", d)
		}

		r := a.register(t, joiner.token, map[string]any{"license_number": ln})
		want(t, r, http.StatusAccepted)
		want(t, a.register(t, byAccount.token, map[string]any{"account_id": acct}), http.StatusAccepted)
		storetest.Settle(t, a.jobs)
		ms = rcv.verified(t, secret)
		var joins []map[string]any
		for _, m := range ms {
			if m.Type == models.EventJoinRequestCreated {
				joins = append(joins, m.Data)
			}
		}
		if len(ms) != 3 || len(joins) != 2 {
			t.Fatalf("after two requests: %v", types(ms))
		}
		for _, j := range joins {
			switch j["email"] {
			case joiner.email:
				if j["license_number"] != ln || j["status"] != "pending" || j["id"] == nil || j["requested_at"] == nil {
					t.Errorf("join request by License Number: %v", j)
				}
			case byAccount.email:
				if j["account_id"] != acct || j["license_number"] != nil {
					t.Errorf("join request by Account ID: %v", j)
				}
			default:
				t.Errorf("join request %v", j)
			}
		}
		reqs := a.do(t, "GET", "/v1/licenses/"+ln+"/requests", admin.token, nil)
		want(t, reqs, http.StatusOK)
		var id string
		for _, it := range reqs.items() {
			if it["email"] == joiner.email {
				id = it["id"].(string)
			}
		}
		want(t, a.do(t, "POST", "/v1/licenses/"+ln+"/requests/"+id+"/approve", admin.token, map[string]any{"roles": []string{"license"}}), http.StatusOK)
		storetest.Settle(t, a.jobs)
		ms = rcv.verified(t, secret)
		last := ms[len(ms)-1]
		if len(ms) != 4 || last.Type != models.EventMemberUpdated || last.Data["email"] != joiner.email || roleSet(last.Data["roles"]) != "license" {
			t.Fatalf("after the approval: %v %v", types(ms), last.Data)
		}
	})
}

// Taking a key for a new machine emits license_key.issued (taking it again for the same machine
// does not: that is a re-issue); releasing it emits license_key.released.
func TestWebhooks_LicenseKeyEvents(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		rcv, secret := a.newSubscriber(t, su, "license_key.issued", "license_key.released")
		ln, _, admin := a.orderLicense(t, map[string]any{"quantity": 2, "kind": "perpetual"})
		fp := strings.Repeat("ab", 32)
		k := a.licenseKey(t, admin, ln, fp, "1.0")
		want(t, k, http.StatusCreated)
		want(t, a.licenseKey(t, admin, ln, fp, "1.0"), http.StatusOK)
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/keys/"+k.str("id"), admin.token, nil), http.StatusNoContent)
		storetest.Settle(t, a.jobs)
		got := byType(t, rcv.verified(t, secret))
		if len(got) != 2 || got[models.EventLicenseKeyIssued] == nil || got[models.EventLicenseKeyReleased] == nil {
			t.Fatalf("got %v", types(rcv.messages()))
		}
		for typ, m := range got {
			d := m.Data
			if d["license_number"] != ln || d["key_id"] != k.str("id") || d["fingerprint"] != fp || d["ver_major"] != float64(1) {
				t.Errorf("%s data %v, want key %s", typ, d, k.str("id"))
			}
		}
	})
}

// Each contract change emits its event, whose data is the contract exactly as the change's
// answer (and /contracts) shows it.
func TestWebhooks_ContractEvents(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals).token
		rcv, secret := a.newSubscriber(t, su, "*")
		id := a.contractFor(t, ops, "Contract Events Ltd", "standard", "2025-03-01", "2026-02-28") // lapsed two days ago
		answers := map[string]*resp{}
		answers[models.EventContractGraceGranted] = a.do(t, "POST", "/v1/contracts/"+id+"/grace", rs, map[string]any{"until": "2026-03-20", "reason": "PO pending"})
		answers[models.EventContractRenewed] = a.do(t, "POST", "/v1/contracts/"+id+"/renewals", rs, map[string]any{"ends_on": "2027-02-28"})
		answers[models.EventContractUpgraded] = a.do(t, "POST", "/v1/contracts/"+id+"/upgrade", rs, map[string]any{"program": "24x7", "premier": true})
		answers[models.EventContractTerminated] = a.do(t, "POST", "/v1/contracts/"+id+"/terminate", rs, map[string]any{"reason": "customer left"})
		for _, r := range answers {
			want(t, r, http.StatusOK)
		}
		storetest.Settle(t, a.jobs)
		got := byType(t, rcv.verified(t, secret))
		for typ, r := range answers {
			m := got[typ]
			if m == nil {
				t.Errorf("no %s event; got %v", typ, types(rcv.messages()))
				continue
			}
			if !reflect.DeepEqual(m.Data, r.body) {
				t.Errorf("%s data\n  %v\nwant the answer\n  %v", typ, m.Data, r.body)
			}
		}
	})
}

// A renewal by order is a contract.renewed too, whose data is the contract as /contracts shows it
// after the renewal.
func TestWebhooks_RenewalByOrderIsContractRenewed(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals).token
		rcv, secret := a.newSubscriber(t, su, "contract.renewed")
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		id, ln, acct := a.contractOrder(t, ops, sku, "Order Renewal Ltd", "Pat", map[string]any{"program": "standard", "starts_on": "2025-03-01", "ends_on": "2026-02-28"})
		want(t, a.do(t, "POST", "/v1/orders", ops, map[string]any{"order_ref": fmt.Sprintf("ORD-%d", a.seq.Add(1)), "account": map[string]any{"account_id": acct},
			"items": []any{map[string]any{"license_number": ln, "support": map[string]any{"ends_on": "2027-02-28"}}}}), http.StatusCreated)
		storetest.Settle(t, a.jobs)
		m := byType(t, rcv.verified(t, secret))[models.EventContractRenewed]
		if m == nil {
			t.Fatalf("no contract.renewed for a renewal by order; got %v", types(rcv.messages()))
		}
		list := a.do(t, "GET", "/v1/contracts?q="+url.QueryEscape("Order Renewal Ltd"), rs, nil)
		want(t, list, http.StatusOK)
		items := list.items()
		if len(items) != 1 || !reflect.DeepEqual(m.Data, items[0]) {
			t.Errorf("contract.renewed data\n  %v\nwant the contract as /contracts shows it\n  %v", m.Data, items)
		}
		if m.Data["id"] != id || m.Data["ends_on"] != "2027-02-28" {
			t.Errorf("contract.renewed data %v, want contract %s ending 2027-02-28", m.Data, id)
		}
	})
}

// The notice sweep emits contract.expiring (with offset_days) with each renewal notice and
// contract.lapsed with the lapse notice.
func TestWebhooks_NoticeSweepEvents(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		ops := a.newStaff(t, models.RoleOps).token
		rcv, secret := a.newSubscriber(t, su, "contract.expiring", "contract.lapsed")
		expiring := a.contractFor(t, ops, "Expiring Ltd", "standard", "2025-04-01", "2026-03-25")
		lapsed := a.contractFor(t, ops, "Lapsed Ltd", "standard", "2025-02-01", "2026-01-31")
		sweep := a.RenewalDesk(t)
		rep, err := sweep.Pass(context.Background(), models.PassOptions{})
		if err != nil || rep.RenewalNotices != 1 || rep.LapseNotices != 1 {
			t.Fatalf("pass: %+v, %v", rep, err)
		}
		storetest.Settle(t, a.jobs)
		got := byType(t, rcv.verified(t, secret))
		exp, lap := got[models.EventContractExpiring], got[models.EventContractLapsed]
		if exp == nil || lap == nil {
			t.Fatalf("got %v", types(rcv.messages()))
		}
		if exp.Data["id"] != expiring || exp.Data["offset_days"] != float64(30) || exp.Data["ends_on"] != "2026-03-25" || exp.Data["days_left"] != float64(23) || exp.Data["status"] != "expiring" {
			t.Errorf("contract.expiring data %v", exp.Data)
		}
		if lap.Data["id"] != lapsed || lap.Data["offset_days"] != nil || lap.Data["ends_on"] != "2026-01-31" {
			t.Errorf("contract.lapsed data %v", lap.Data)
		}
	})
}

// An order emits order.created, whose data is the order's answer; an order refused (its
// order_ref taken) emits nothing.
func TestWebhooks_OrderCreated(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		ops := a.newStaff(t, models.RoleOps).token
		rcv, secret := a.newSubscriber(t, su, "order.created")
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		body, _ := a.order(map[string]any{"sku": sku, "quantity": 3, "kind": "perpetual", "service_tag": "WH00001",
			"support": map[string]any{"program": "standard", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}},
			map[string]any{"sku": sku, "quantity": 1, "kind": "trial"})
		r := a.do(t, "POST", "/v1/orders", ops, body)
		want(t, r, http.StatusCreated)
		want(t, a.do(t, "POST", "/v1/orders", ops, body), http.StatusConflict, models.CodeOrderRefTaken)
		storetest.Settle(t, a.jobs)
		ms := rcv.verified(t, secret)
		if len(ms) != 1 || ms[0].Type != models.EventOrderCreated {
			t.Fatalf("got %v", types(ms))
		}
		if !reflect.DeepEqual(ms[0].Data, r.body) {
			t.Errorf("order.created data\n  %v\nwant the answer\n  %v", ms[0].Data, r.body)
		}
	})
}

// An invitation emits nothing until it takes effect: member.updated when the invitee verifies.
func TestWebhooks_InvitationTakingEffect(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		ops := a.newStaff(t, models.RoleOps).token
		ln, _, _, admin := a.registeredLicense(t, ops)
		rcv, secret := a.newSubscriber(t, su, "member.updated")
		invitee := a.email("invitee")
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+invitee, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusAccepted)
		storetest.Settle(t, a.jobs)
		if ms := rcv.messages(); len(ms) != 0 {
			t.Fatalf("an invitation emitted %v", types(ms))
		}
		a.signup(t, invitee, testPassword, "Invited Person")
		a.verify(t, invitee)
		storetest.Settle(t, a.jobs)
		ms := rcv.verified(t, secret)
		if len(ms) != 1 || ms[0].Data["email"] != invitee || ms[0].Data["license_number"] != ln || roleSet(ms[0].Data["roles"]) != "support" {
			t.Fatalf("after the invitee verified: %v %v", types(ms), ms)
		}
	})
}
