package models

import (
	"strings"
	"time"
)

// Order is one order from the order system.
type Order struct {
	ID        int64
	OrderRef  string
	AccountID int64
	ActorKind string
	ActorID   *int64
	CreatedAt time.Time
}

// OrderInput is an order as the order system sends it.
type OrderInput struct {
	OrderRef     string
	AccountID    string // an existing account to add to; empty for a new account
	AccountName  string
	ContactName  string
	ContactEmail string
	Items        []OrderItem
}

// OrderItem is a new license (SKU set), a renewal of a license's support (LicenseNumber and
// Support), or more seats (LicenseNumber and AddQuantity).
type OrderItem struct {
	SKU           string
	Quantity      *int
	Kind          string
	ServiceTag    string
	LicenseNumber string
	AddQuantity   *int
	Support       *SupportInput
}

// SupportInput is the support bought with an item.
type SupportInput struct {
	Program  string
	Premier  *bool
	StartsOn string
	EndsOn   string
	// Value is what the term is worth: the renewal record's default value (renewal_pipeline.go).
	Value *MoneyInput
}

// LicenseDetail is a license with its product, account and contract (nil without support).
type LicenseDetail struct {
	License  License
	Product  Product
	Account  Account
	Contract *Contract
}

// OrderResult is what an order made: the account and every license it touched, in item order.
type OrderResult struct {
	OrderRef string
	Account  Account
	Licenses []LicenseDetail
}

// NormaliseServiceTag upper-cases and trims a service tag.
func NormaliseServiceTag(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func CheckProgram(v *Validation, field, program string) string {
	program = strings.ToLower(strings.TrimSpace(program))
	if program != ProgramStandard && program != Program24x7 {
		v.Add(field, FieldInvalid, "must be standard or 24x7")
	}
	return program
}

// CodePremierRequiresProgram is the error for premier without a current program.
const CodePremierRequiresProgram = "premier_requires_program"
