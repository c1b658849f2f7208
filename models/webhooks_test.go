package models

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestWebhookMatches(t *testing.T) {
	acct := "1234567"
	other := "7654321"
	for _, c := range []struct {
		events  []string
		filter  *string
		typ     string
		account string
		want    bool
	}{
		{[]string{"*"}, nil, EventMemberUpdated, acct, true},
		{[]string{"*"}, nil, EventOrderCreated, "", true},
		{[]string{EventMemberRemoved}, nil, EventMemberUpdated, acct, false},
		{[]string{EventMemberRemoved, EventMemberUpdated}, nil, EventMemberUpdated, acct, true},
		{[]string{"*"}, &acct, EventMemberUpdated, acct, true},
		{[]string{"*"}, &other, EventMemberUpdated, acct, false},
		{[]string{"*"}, &acct, EventPing, "", false}, // an event of no account does not reach an account's endpoint
	} {
		if got := WebhookMatches(c.events, c.filter, c.typ, c.account); got != c.want {
			t.Errorf("WebhookMatches(%v, %v, %s, %q) = %v, want %v", c.events, c.filter, c.typ, c.account, got, c.want)
		}
	}
}

func TestWebhookRetrySchedule(t *testing.T) {
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	for i, w := range want {
		if d, ok := WebhookRetryDelay(i + 1); !ok || d != w {
			t.Errorf("after attempt %d: %s %v, want %s", i+1, d, ok, w)
		}
	}
	if _, ok := WebhookRetryDelay(len(want) + 1); ok {
		t.Errorf("a retry after the eighth attempt")
	}
	if WebhookMaxAttempts != 8 {
		t.Errorf("WebhookMaxAttempts %d", WebhookMaxAttempts)
	}
}

func TestRefusedWebhookAddr(t *testing.T) {
	for addr, refused := range map[string]bool{
		"127.0.0.1": true, "::1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true, "fd00::1": true,
		"169.254.169.254": true, "fe80::1": true, "224.0.0.1": true, "ff02::1": true, "0.0.0.0": true, "::": true,
		"::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true,
		// Special-purpose ranges, and IPv6 forms that carry an IPv4 address inside.
		"100.100.100.200": true, "0.1.2.3": true, "192.0.0.8": true, "198.18.0.1": true, "255.255.255.255": true, "fec0::1": true,
		"64:ff9b::a9fe:a9fe": true, "64:ff9b::a00:5": true, "64:ff9b:1::a00:5": true, "2002:a00:5::1": true, "2002:7f00:1::": true, "::a00:5": true,
		"64:ff9b::808:808": false, "2002:5db8:d822::1": false,
		"93.184.216.34": false, "2606:2800:220:1::1": false, "8.8.8.8": false,
	} {
		if got := RefusedWebhookAddr(netip.MustParseAddr(addr)) != ""; got != refused {
			t.Errorf("%s: refused %v, want %v", addr, got, refused)
		}
	}
}

func TestParseWebhookURL(t *testing.T) {
	for raw, code := range map[string]string{
		"https://hooks.example.com/in": "",
		"http://hooks.example.com/in":  CodeWebhookURLRefused,
		"ftp://hooks.example.com/in":   CodeWebhookURLRefused,
		"https://":                     CodeValidation,
		"not a url":                    CodeValidation,
		"https://user:pw@example.com/": CodeValidation,
		"https://hooks.example.com/" + strings.Repeat("a", MaxWebhookURL): CodeValidation,
	} {
		_, err := ParseWebhookURL(raw, false)
		if got := errorCode(err); got != code {
			t.Errorf("%q: %v, want %q", raw, err, code)
		}
	}
	if _, err := ParseWebhookURL("http://127.0.0.1:8080/in", true); err != nil {
		t.Errorf("allowPrivate: http refused: %v", err)
	}
}

func TestValidateWebhookEvents(t *testing.T) {
	for _, c := range []struct {
		events []string
		ok     bool
	}{{[]string{"*"}, true}, {[]string{EventPing, EventContractLapsed}, true}, {nil, false}, {[]string{"member.nope"}, false}} {
		var v Validation
		ValidateWebhookEvents(&v, c.events)
		if (v.Err() == nil) != c.ok {
			t.Errorf("%v: %v", c.events, v.Err())
		}
	}
}

func TestWebhookShouldDisable(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if WebhookShouldDisable(nil, t0.Add(30*24*time.Hour)) {
		t.Errorf("an endpoint that is not failing is disabled")
	}
	if WebhookShouldDisable(&t0, t0.Add(5*24*time.Hour-time.Second)) {
		t.Errorf("disabled before 5 days")
	}
	if !WebhookShouldDisable(&t0, t0.Add(5*24*time.Hour)) {
		t.Errorf("not disabled after 5 days")
	}
}
