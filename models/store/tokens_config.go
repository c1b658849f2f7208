package store

import "time"

// TokenConfiguration is what a verifier needs to know of the tokens before it sees one: it is
// published at /.well-known/entitled-configuration.
type TokenConfiguration struct {
	Issuer    string
	Audiences []string
	TTL       time.Duration
}

// Configuration is the tokens' published configuration.
func (s *Tokens) Configuration() TokenConfiguration {
	return TokenConfiguration{Issuer: s.issuer, Audiences: append([]string(nil), s.audiences...), TTL: s.ttl}
}
