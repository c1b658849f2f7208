package models

import "time"

// Idempotency keys: the first answer to (caller, method, path, key) is kept for IdempotencyTTL
// and replayed to repeats, so that a client retrying after a lost answer never does a thing twice.
const IdempotencyTTL = 24 * time.Hour

// StoredResponse is an answer kept for an idempotency key.
type StoredResponse struct {
	Status      int
	ContentType string
	Body        []byte
}
