package webhooks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"entitled/webhooks"
)

// A consumer, written from the contract and the Standard Webhooks specification alone: it
// verifies each delivery with the secret that POST /v1/webhooks showed, answers 2xx quickly,
// deduplicates by webhook-id (a delivery may come more than once) and orders by the body's
// timestamp (deliveries come in no guaranteed order).
func Example_consumer() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from POST /v1/webhooks
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	consumer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		if id := r.Header.Get("webhook-id"); seen[id] {
			w.WriteHeader(http.StatusNoContent) // a repeat: done already
			return
		} else {
			seen[id] = true
		}
		var event struct {
			Type      string          `json:"type"`
			Timestamp time.Time       `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		fmt.Println(event.Type, string(event.Data))
		w.WriteHeader(http.StatusNoContent)
	})

	// What entitled sends (here through this package's sender, to a local test server).
	srv := httptest.NewTLSServer(consumer)
	defer srv.Close()
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	s := &webhooks.Sender{Client: webhooks.NewClient(true, srv.Client().Transport.(*http.Transport).TLSClientConfig)}
	out := outgoing(srv.URL)
	out.Body = []byte(`{"type":"member.removed","timestamp":"2026-03-02T09:00:00Z","data":{"license_number":"LN-7KQ2-M9XD-44TB-R1ZC","email":"pat@example.com","version":3}}`)
	out.Secrets = [][]byte{raw}
	fmt.Println(s.Send(context.Background(), out).StatusCode)
	fmt.Println(s.Send(context.Background(), out).StatusCode) // the same webhook-id again
	// Output:
	// member.removed {"license_number":"LN-7KQ2-M9XD-44TB-R1ZC","email":"pat@example.com","version":3}
	// 204
	// 204
}
