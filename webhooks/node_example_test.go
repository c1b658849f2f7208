package webhooks_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entitled/internal/nodetest"

	"entitled/models"
	"entitled/webhooks"
)

// nodeConsumer is examples/node/consumer.js running under node.
type nodeConsumer struct {
	URL    string
	events chan map[string]any // each JSON line it printed
	stderr lockedLog           // what it said on stderr, for failure messages
}

// lockedLog collects lines while the test may read them.
type lockedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startNodeConsumer starts examples/node/consumer.js, installed by nodetest.Install, with secret
// on a free port.
func startNodeConsumer(t *testing.T, secret string) *nodeConsumer {
	t.Helper()
	dir := nodetest.Install(t, filepath.Join("..", "examples", "node"),
		"package.json", "package-lock.json", "consumer.js")
	cmd := exec.Command("node", "consumer.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "PORT=0", "HOST=127.0.0.1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := &nodeConsumer{events: make(chan map[string]any, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = map[string]any{"not_json": sc.Text()}
			}
			c.events <- ev
		}
		close(c.events)
	}()
	// Its first line on stderr says where it listens; the rest is kept for failure messages.
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				listening <- u
			}
			c.stderr.add(sc.Text())
		}
	}()
	select {
	case c.URL = <-listening:
	case <-time.After(20 * time.Second):
		t.Fatalf("the Node consumer did not say where it listens")
	}
	return c
}

// next is the next event the consumer printed, or nil when it printed none within wait.
func (c *nodeConsumer) next(wait time.Duration) map[string]any {
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(wait):
		return nil
	}
}

// The Node consumer of examples/node, run against real deliveries: it verifies a delivery with
// the endpoint's secret through the Standard Webhooks npm library and prints its event once, also
// when the same webhook-id comes again; it refuses a tampered body and a wrong secret's signature.
func TestNodeConsumerExample_VerifiesDedupsAndRefusesTampering(t *testing.T) {
	ctx := context.Background()
	svc := sqliteWebhooks(t, true)
	// The consumer needs the secret before it listens, and the endpoint its URL: register the
	// endpoint first, then point it at the consumer.
	ep, sec, err := svc.Create(ctx, models.WebhookInput{URL: "http://127.0.0.1:1/", Events: []string{"*"}}, models.SystemActor("test"))
	if err != nil {
		t.Fatal(err)
	}
	consumer := startNodeConsumer(t, sec)
	if _, err := svc.Update(ctx, itoa(ep.ID), models.WebhookPatch{URL: &consumer.URL}, models.SystemActor("test")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Ping(ctx, itoa(ep.ID)); err != nil {
		t.Fatal(err)
	}
	ds, _, err := svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 1})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v, %v", ds, err)
	}
	out, err := svc.Outgoing(ctx, ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	s := &webhooks.Sender{Client: webhooks.NewClient(true, nil), AllowHTTP: true}

	if att := s.Send(ctx, out); att.StatusCode != http.StatusNoContent {
		t.Fatalf("the delivery: %+v, want 204\n%s", att, consumer.stderr.String())
	}
	ev := consumer.next(10 * time.Second)
	data, _ := ev["data"].(map[string]any)
	if ev == nil || ev["webhook_id"] != ds[0].EventID || ev["type"] != models.EventPing || data["webhook_id"] != itoa(ep.ID) || ev["timestamp"] == nil {
		t.Fatalf("the consumer printed %v, want the ping %s of webhook %d", ev, ds[0].EventID, ep.ID)
	}

	// The same delivery again (a retry, or a resend after a crash): answered, not handled twice.
	if att := s.Send(ctx, out); att.StatusCode != http.StatusNoContent {
		t.Fatalf("the repeat: %+v, want 204", att)
	}

	// A body changed on the way, under the signature made for the original one.
	tampered := bytes.Replace(out.Body, []byte(`"ping"`), []byte(`"member.removed"`), 1)
	at := time.Now()
	sig, err := webhooks.Sign("msg_tampered", at, out.Body, out.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, consumer.URL, bytes.NewReader(tampered))
	req.Header.Set("webhook-id", "msg_tampered")
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a tampered body was answered %d, want 400", resp.StatusCode)
	}

	// Signed with another endpoint's secret.
	other := *out
	other.EventID, other.Secrets = "msg_other_secret", [][]byte{secret(7)}
	if att := s.Send(ctx, &other); att.StatusCode != http.StatusBadRequest {
		t.Errorf("another secret's signature was answered %+v, want 400", att)
	}

	// Nothing of the repeat, the tampered body or the wrong secret was printed.
	if ev := consumer.next(time.Second); ev != nil {
		t.Errorf("after the first event the consumer printed %v", ev)
	}
}
