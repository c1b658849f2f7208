package handlers

// BenchmarkTokenIssue measures POST /v1/entitlements/token end to end: the real router on a fresh
// database of each dialect, behind httptest, as a member's client calls it: the session is
// checked, the license, membership, contract and versions are read, the entitlements computed
// and the token signed (Ed25519). Nothing is written.
//
//	go test -run x -bench TokenIssue -benchtime 3s ./handlers/

import (
	"net/http"
	"testing"

	"entitled/models/storetest"
)

func BenchmarkTokenIssue(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			a := newTestApp(b, d)
			ln, admin, _ := a.tokenLicense(b)
			tr := a.srv.Client().Transport.(*http.Transport).Clone()
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
			b.Cleanup(tr.CloseIdleConnections)
			a.srv.Client().Transport = tr
			body := `{"license_number":"` + ln + `","audience":"downloads"}`
			if _, err := issueRaw(a, admin.token, body); err != nil {
				b.Fatal(err)
			}
			benchSerialAndParallel(b, "tokens/s", func() error {
				_, err := issueRaw(a, admin.token, body)
				return err
			})
		})
	}
}
