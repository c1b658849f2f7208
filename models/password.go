package models

// Password rules: at least 12 and at most 256 characters, and not one of the most common
// passwords (NIST SP 800-63B: length and a blocklist, no composition rules).
const (
	PasswordMin = 12
	PasswordMax = 256
)
