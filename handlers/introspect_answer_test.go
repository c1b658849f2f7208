package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// An active token's introspection is written from the token's own payload; it says exactly what
// encoding its verified claims says (the same members, the same values), and "active" and
// "token_type" around them.
func TestIntrospection_AnswerIsTheVerifiedClaims(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		tok := a.token(t, admin, ln, "downloads")
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		got := a.introspect(t, key, tok).body

		claims, err := a.verifier(t, "downloads", verify.JWKSOptions{}).Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		var encoded bytes.Buffer
		if err := jsonEncode(&encoded, introspectJSON{Active: true, Claims: claims, TokenType: verify.TypEntitlement}); err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(encoded.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("introspection answered\n%v\nwant (the claims encoded)\n%v", got, want)
		}
		if got["active"] != true || got["token_type"] != verify.TypEntitlement || got["lic"] != ln {
			t.Errorf("answer %v", got)
		}
	})
}

// A payload that is not a JSON object with members is not written out (the claims are encoded
// instead); a good one is wrapped.
func TestIntrospectionAnswer_OnlyAnObjectWithMembers(t *testing.T) {
	for _, tc := range []struct {
		token string
		ok    bool
	}{
		{"h.eyJhIjoxfQ.s", true}, // {"a":1}
		{"h.e30.s", false},       // {}
		{"h.W10.s", false},       // []
		{"h.!!.s", false},        // not base64url
		{"h.eyAgfQ.s", false},    // {  }
		{"nodots", false},
	} {
		body, ok := introspectionAnswer(tc.token)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.token, ok, tc.ok)
		}
		if ok && string(body) != `{"active":true,"a":1,"token_type":"`+verify.TypEntitlement+"\"}\n" {
			t.Errorf("%s: %s", tc.token, body)
		}
	}
}
