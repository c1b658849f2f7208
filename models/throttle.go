package models

import "time"

// Limit is a throttle on failures: at most Max failures for one key within Window. Failures are
// counted in the database, so a limit holds across replicas; successes are never counted.
type Limit struct {
	Scope  string
	Max    int
	Window time.Duration
}

// The failure limits of logins. An account (even one that does not exist, so that the throttle
// tells nothing about which addresses have accounts) locks after 10 wrong passwords in 15
// minutes: every login of it is refused, the right password included, until the oldest of them
// leaves the window. A client address over 100 wrong passwords in 15 minutes is not locked out
// (a NAT may hide a whole office behind it): a right password still logs in, and only its further
// wrong ones are answered too_many_attempts instead of invalid_credentials.
var (
	LoginPerAccount = Limit{Scope: "login_account", Max: 10, Window: 15 * time.Minute}
	LoginPerAddress = Limit{Scope: "login_address", Max: 100, Window: 15 * time.Minute}
)

// LettersPerHour caps how many letters of one kind an address receives an hour, so that nobody
// can flood a stranger's inbox through us (signup notices, resets, recoveries, help confirmations).
const LettersPerHour = 5

// An address over LoginPerAddress keeps logging in, but its password checks are paced: at most
// OverLimitChecksPerSecond a second (bursts of OverLimitChecksBurst) per address and replica;
// beyond that a login from it is refused before any hashing. Right passwords within the pace
// log in, so a client guessing behind a NAT slows its neighbours down but does not lock them out.
const (
	OverLimitChecksPerSecond = 2
	OverLimitChecksBurst     = 10
)
