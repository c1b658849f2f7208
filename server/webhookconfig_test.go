package main

import (
	"strings"
	"testing"
)

// ENTITLED_WEBHOOK_ALLOW_PRIVATE: off by default, true/1 turn it on, anything else is refused.
func TestLoadConfigWebhookAllowPrivate(t *testing.T) {
	for env, want := range map[string]bool{"": false, "ENTITLED_WEBHOOK_ALLOW_PRIVATE=": false, "ENTITLED_WEBHOOK_ALLOW_PRIVATE=false": false,
		"ENTITLED_WEBHOOK_ALLOW_PRIVATE=true": true, "ENTITLED_WEBHOOK_ALLOW_PRIVATE=1": true} {
		var vars []string
		if env != "" {
			vars = []string{env}
		}
		c, _, err := loadConfig("serve", nil, vars)
		if err != nil || c.WebhookAllowPrivate != want {
			t.Errorf("%q: %v %v, want %v", env, c.WebhookAllowPrivate, err, want)
		}
	}
	_, _, err := loadConfig("serve", nil, []string{"ENTITLED_WEBHOOK_ALLOW_PRIVATE=yes please"})
	if err == nil || !strings.Contains(err.Error(), "ENTITLED_WEBHOOK_ALLOW_PRIVATE") {
		t.Errorf("a bad value: %v", err)
	}
}

func TestLoadConfigPortalLinks(t *testing.T) {
	c, _, err := loadConfig("serve", nil, []string{"ENTITLED_DOWNLOADS_URL=https://downloads.example.com/", "ENTITLED_CASES_URL=https://cases.example.com/new"})
	if err != nil || c.DownloadsURL != "https://downloads.example.com/" || c.CasesURL != "https://cases.example.com/new" {
		t.Errorf("links: %q %q %v", c.DownloadsURL, c.CasesURL, err)
	}
	if c, _, err := loadConfig("serve", nil, nil); err != nil || c.DownloadsURL != "" || c.CasesURL != "" {
		t.Errorf("default: %q %q %v, want none", c.DownloadsURL, c.CasesURL, err)
	}
}
