package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A newcomer's first minutes: an empty server says where to browse, how to make the first staff
// user and where letters go; `entitled demo` seeds data and prints what to type, and what it
// prints works against the server.
func TestDemo_NewcomersFirstMinutes(t *testing.T) {
	s := setup{DataDir: t.TempDir()}
	p := startServer(t, s)
	// The hints follow the "serving" line, which may come just after /healthz answers.
	for _, want := range []string{"open the portal in a browser", "no staff user yet", "entitled staff add", "letters are written as .eml files"} {
		p.waitOutput(want, 10*time.Second)
	}

	out := mustCLI(t, s, "", "demo")
	ln := regexp.MustCompile(`LN-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(out)
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if ln == "" || pw == nil || !strings.Contains(out, "renewals@demo.example") || !strings.Contains(out, "/signup") || !strings.Contains(out, "Fabrikam Logistics") {
		t.Fatalf("demo printed:\n%s", out)
	}
	token := login(t, p.URL(), "renewals@demo.example", pw[1])
	var renewals struct {
		Items []struct {
			AccountName string `json:"account_name"`
			DaysLeft    int    `json:"days_left"`
		} `json:"items"`
	}
	getJSON(t, p.URL()+"/v1/renewals?within_days=30", token, &renewals)
	found := false
	for _, it := range renewals.Items {
		found = found || (it.AccountName == "Fabrikam Logistics" && it.DaysLeft == 20)
	}
	if !found {
		t.Errorf("no contract of Fabrikam Logistics ends in 20 days: %+v", renewals)
	}
	var products struct {
		Versions []struct{ Phase string } `json:"versions"`
	}
	getJSON(t, p.URL()+"/v1/products/DEMO-EDGE", token, &products)
	phases := map[string]bool{}
	for _, v := range products.Versions {
		phases[v.Phase] = true
	}
	if !phases["full"] || !phases["limited"] || !phases["discontinued"] {
		t.Errorf("the demo product's versions are not in every phase: %+v", products)
	}

	// Again, with a password on standard input: the demo data is there already, so it adds
	// nothing, leaves the staff password alone, and prints the same License Number.
	out = mustCLI(t, s, "a password of my own 42\n", "demo", "--password-stdin")
	if !strings.Contains(out, "already there") || !strings.Contains(out, ln) || strings.Contains(out, pw[1]) {
		t.Errorf("the second run printed:\n%s", out)
	}
	login(t, p.URL(), "renewals@demo.example", pw[1])
	var again struct {
		Items []struct {
			AccountName string `json:"account_name"`
		} `json:"items"`
	}
	getJSON(t, p.URL()+"/v1/contracts?q=Fabrikam&limit=10", token, &again)
	if len(again.Items) != 1 {
		t.Errorf("after a second run, %d contracts of Fabrikam Logistics, want 1", len(again.Items))
	}
}

func login(t *testing.T, base, email, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	res, err := http.Post(base+"/v1/auth/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %d %v", email, res.StatusCode, err)
	}
	return out.AccessToken
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
