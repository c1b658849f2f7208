package mailer_test

import (
	"strings"
	"testing"

	"entitled/mailer"
)

// Letters about a license name its product, not the server's brand (.Product is the brand in
// every letter's footer; a message's product is .ProductName).
func TestLettersNameTheLicensesProduct(t *testing.T) {
	r, err := mailer.NewRenderer("https://portal.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []mailer.Message{
		mailer.ClaimNotice{LicenseNumber: "LN-X", ProductName: "Widget Pro", ClaimedBy: "A <a@example.test>", HelpURL: "https://h"},
		mailer.JoinRequested{Requester: "B", LicenseNumber: "LN-X", ProductName: "Widget Pro", ReviewURL: "https://r"},
		mailer.Invitation{InvitedBy: "C", LicenseNumber: "LN-X", ProductName: "Widget Pro", Roles: "support", Link: "https://i?token=t"},
		mailer.ContractChanged{Change: "renewed", LicenseNumber: "LN-X", ProductName: "Widget Pro", Program: "standard", EndsOn: "2027-01-01"},
	} {
		l, err := r.Render(m, []string{"x@example.test"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", m.Template(), err)
		}
		if !strings.Contains(l.Text, "Widget Pro") || !strings.Contains(l.HTML, "Widget Pro") {
			t.Errorf("%s does not name the product:\n%s", m.Template(), l.Text)
		}
	}
}
