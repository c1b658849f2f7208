package store_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"entitled/mailer"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// webhooksOn is a webhook service on the store with the secret (ENTITLED_SECRET) and
// ENTITLED_WEBHOOK_ALLOW_PRIVATE as given.
func webhooksOn(t testing.TB, store *dbstore.Store, outbox *mailer.Outbox, secret string, allowPrivate bool) *dbstore.Webhooks {
	t.Helper()
	svc, err := dbstore.NewWebhooks(store, outbox, secret, allowPrivate)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// newWebhooks opens a fresh store of the dialect and a webhook service on it (webhooksOn) whose
// letters stay queued in the outbox.
func newWebhooks(t testing.TB, d dbstore.Dialect, secret string, allowPrivate bool) (*dbstore.Store, *mailer.Outbox, *dbstore.Webhooks) {
	t.Helper()
	store := storetest.Open(t, d, nil)
	outbox, _ := newOutbox(t, store, nil)
	return store, outbox, webhooksOn(t, store, outbox, secret, allowPrivate)
}

// The URL rules at registration, with ENTITLED_WEBHOOK_ALLOW_PRIVATE off: https only, and a host
// that resolves to a loopback, private, link-local, multicast or unspecified address (or does not
// resolve) is refused with webhook_url_refused; with it on, both rules are lifted.
func TestWebhooks_URLRulesAtRegistration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		store, outbox, svc := newWebhooks(t, d, "test secret for webhooks", false)
		dns := map[string][]netip.Addr{
			"public.example.test":   {netip.MustParseAddr("93.184.216.34")},
			"rebind.example.test":   {netip.MustParseAddr("127.0.0.1")},
			"mixed.example.test":    {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.7")},
			"metadata.example.test": {netip.MustParseAddr("169.254.169.254")},
		}
		svc.Resolve = func(_ context.Context, host string) ([]netip.Addr, error) {
			if a, ok := dns[host]; ok {
				return a, nil
			}
			return nil, errors.New("no such host")
		}
		sys := models.SystemActor("test")
		for u, code := range map[string]string{
			"https://public.example.test/in": "",
			"http://public.example.test/in":  models.CodeWebhookURLRefused,
			"https://rebind.example.test/in": models.CodeWebhookURLRefused,
			"https://mixed.example.test/in":  models.CodeWebhookURLRefused,
			"https://metadata.example.test/": models.CodeWebhookURLRefused,
			"https://nowhere.example.test/":  models.CodeWebhookURLRefused,
			"https://127.0.0.1/in":           models.CodeWebhookURLRefused,
			"https://[::1]/in":               models.CodeWebhookURLRefused,
			"https://192.168.0.10:8443/in":   models.CodeWebhookURLRefused,
			"https://93.184.216.34/in":       "",
		} {
			_, _, err := svc.Create(ctx, models.WebhookInput{URL: u, Events: []string{"*"}}, sys)
			if got := dbstore.ErrorCode(err); err != nil && got != code || err == nil && code != "" {
				t.Errorf("%s: %v (code %q), want %q", u, err, got, code)
			}
		}
		ep, _, err := svc.Create(ctx, models.WebhookInput{URL: "https://public.example.test/in", Events: []string{"*"}}, sys)
		if err != nil {
			t.Fatal(err)
		}
		url := "https://rebind.example.test/in"
		_, err = svc.Update(ctx, itoa64(ep.ID), models.WebhookPatch{URL: &url}, sys)
		wantCode(t, err, models.CodeWebhookURLRefused, "PATCH to a loopback host")
		acct := "0000000"
		_, _, err = svc.Create(ctx, models.WebhookInput{URL: "https://public.example.test/in", Events: []string{"*"}, AccountID: &acct}, sys)
		wantCode(t, err, models.CodeAccountNotFound, "an unknown account")

		open := webhooksOn(t, store, outbox, "test secret for webhooks", true)
		for _, u := range []string{"http://127.0.0.1:8080/in", "https://localhost/in", "http://10.0.0.1/in"} {
			if _, _, err := open.Create(ctx, models.WebhookInput{URL: u, Events: []string{"*"}}, sys); err != nil {
				t.Errorf("ENTITLED_WEBHOOK_ALLOW_PRIVATE: %s: %v", u, err)
			}
		}
	})
}

// The secrets are sealed at rest: the column holds neither the secret nor its bytes, and a store
// with another ENTITLED_SECRET cannot open them.
func TestWebhooks_SecretSealedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		store, outbox, svc := newWebhooks(t, d, "the right secret", true)
		ep, secret, err := svc.Create(ctx, models.WebhookInput{URL: "https://127.0.0.1/in", Events: []string{"*"}}, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		var sealed []byte
		storetest.Gorm(t, store).Raw("SELECT secret FROM webhook_endpoints WHERE id = ?", ep.ID).Row().Scan(&sealed)
		if len(sealed) == 0 || containsBytes(sealed, []byte(secret)) || containsBytes(sealed, []byte(secret[len("whsec_"):])) {
			t.Fatalf("sealed secret %x", sealed)
		}
		if err := svc.Ping(ctx, itoa64(ep.ID)); err != nil {
			t.Fatal(err)
		}
		ds, _, _ := svc.Deliveries(ctx, itoa64(ep.ID), models.Page{Limit: 1})
		if out, err := svc.Outgoing(ctx, ds[0].ID); err != nil || len(out.Secrets) != 1 {
			t.Fatalf("outgoing: %v %v", out, err)
		}
		wrong := webhooksOn(t, store, outbox, "another secret", true)
		if _, err := wrong.Outgoing(ctx, ds[0].ID); err == nil {
			t.Fatalf("another ENTITLED_SECRET opens the webhook secret")
		}
	})
}

func containsBytes(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return true
		}
	}
	return false
}
