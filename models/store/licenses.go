package store

import (
	"crypto/rand"
	"time"

	"entitled/models"
)

// appendTerm records a term of the contract, numbered after the last one.
func newTerm(c *models.Contract, kind string, a models.Actor, reason string, orderID *int64, now time.Time) models.ContractTerm {
	t := models.ContractTerm{ContractID: c.ID, Kind: kind, StartsOn: c.StartsOn, EndsOn: c.EndsOn, Program: c.Program, Premier: c.Premier,
		OrderID: orderID, ActorKind: a.Kind, Reason: reason, CreatedAt: now}
	if a.ID != 0 {
		t.ActorID = &a.ID
	}
	if a.Email != "" {
		t.ActorEmail = &a.Email
	}
	return t
}

// Licenses is the service that shows licenses to their members and to staff.
type Licenses struct {
	store *Store
	// RenewalWindowDays is how close to ends_on a contract counts as expiring.
	RenewalWindowDays int
}

// NewLicenses makes the licenses service.
func NewLicenses(store *Store, renewalWindowDays int) *Licenses {
	return &Licenses{store: store, RenewalWindowDays: renewalWindowDays}
}

// Today is the current UTC day by the store's clock.
func (s *Licenses) Today() models.Date { return models.DateOf(s.store.Clock.Now()) }

// NewLicenseNumber returns a fresh random License Number in canonical form, its fifteen random
// characters drawn from crypto/rand.
func NewLicenseNumber() string {
	random := make([]byte, models.LicenseNumberRandomBytes)
	if _, err := rand.Read(random); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms (Go 1.24+ never returns an error)
	}
	return models.LicenseNumberFrom(random)
}
