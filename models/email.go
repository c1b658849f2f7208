package models

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEmailLen is the longest address ValidEmail takes: RFC 5321's limit on a path (256)
// less its angle brackets.
const MaxEmailLen = 254

// ValidEmail reports whether s is an address letters can be sent to as it is: a plain
// addr-spec local@domain in printable ASCII, the one rule of what the API accepts (CheckEmail)
// and what the mailer sends (its renderer, and its transport for letters queued before it).
//
//   - exactly one "@", with a non-empty local part and domain on either side, at most
//     MaxEmailLen characters in all;
//   - the local part a dot-atom (RFC 5322): letters, digits and !#$%&'*+-/=?^_`{|}~, in runs
//     separated by single dots, none at either end. No quoted local part ("a b"@x), no
//     comments, no spaces;
//   - the domain a host name (RFC 5321): labels of letters, digits and hyphens, 1 to 63 long,
//     not starting or ending with a hyphen, separated by single dots, no trailing dot, and a last
//     label that is not all digits. No address literal (x@[10.0.0.1], x@[IPv6:::1]) and no bare
//     IPv4 address (x@10.0.0.1);
//   - no display name ("Pat <pat@example.com>"), no UTF-8 (RFC 6532: without SMTPUTF8 no
//     server takes it, and go-mail would write it into headers as an encoded word).
//
// Case is kept as given; callers that store addresses lower-case them first.
func ValidEmail(s string) bool {
	if len(s) == 0 || len(s) > MaxEmailLen {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || at == len(s)-1 {
		return false
	}
	return validLocalPart(s[:at]) && validDomain(s[at+1:])
}

// atext are the characters of a dot-atom besides letters and digits (RFC 5322 §3.2.3).
const atext = "!#$%&'*+-/=?^_`{|}~"

func validLocalPart(local string) bool {
	for _, run := range strings.Split(local, ".") {
		if run == "" { // a leading, trailing or doubled dot
			return false
		}
		for i := 0; i < len(run); i++ {
			if c := run[i]; !isLetterOrDigit(c) && strings.IndexByte(atext, c) < 0 {
				return false
			}
		}
	}
	return true
}

func validDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isLetterOrDigit(c) && c != '-' {
				return false
			}
		}
	}
	// No top-level domain is all digits: such a domain is an IPv4 address written bare.
	last := labels[len(labels)-1]
	return strings.IndexFunc(last, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

func isLetterOrDigit(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// CheckEmail adds to v what is wrong with an email address, and returns it normalised.
func CheckEmail(v *Validation, field, raw string) string {
	email := NormaliseEmail(raw)
	if email == "" {
		v.Add(field, FieldRequired, "is required")
		return ""
	}
	if len(email) > MaxEmailLen {
		v.Add(field, FieldTooLong, "must be at most 254 characters")
		return email
	}
	// The mailer's own rule, so that every address the API takes can be written to: a plain
	// local@domain, without address literals (x@[10.0.0.1]), quoted local parts, display names
	// or UTF-8.
	if !ValidEmail(email) {
		v.Add(field, FieldInvalid, "must be an email address such as name@example.com")
	}
	return email
}

// CheckName adds to v what is wrong with a person's name, and returns it trimmed.
func CheckName(v *Validation, field, raw string, required bool) string {
	return checkText(v, field, raw, required, 200)
}

// checkText adds to v what is wrong with a one-line text a person chose (a name, a label): empty
// when required, longer than max characters, not UTF-8 or holding control characters (NUL
// included, which PostgreSQL's text refuses). It returns the text trimmed.
func checkText(v *Validation, field, raw string, required bool, max int) string {
	text := strings.TrimSpace(raw)
	switch {
	case text == "" && required:
		v.Add(field, FieldRequired, "is required")
	case utf8.RuneCountInString(text) > max:
		v.Add(field, FieldTooLong, fmt.Sprintf("must be at most %d characters", max))
	case !utf8.ValidString(text) || strings.IndexFunc(text, unicode.IsControl) >= 0:
		v.Add(field, FieldInvalid, "must not contain control characters")
	}
	return text
}
