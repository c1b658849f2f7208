package models

import (
	"slices"
	"strings"
	"time"
)

// Version lifecycle phases.
const (
	PhaseFull         = "full"
	PhaseLimited      = "limited"
	PhaseDiscontinued = "discontinued"
)

// phases lists the lifecycle phases in order.
var phases = []string{PhaseFull, PhaseLimited, PhaseDiscontinued}

// Phases lists the lifecycle phases in order, in a fresh slice the caller may change.
func Phases() []string { return slices.Clone(phases) }

// CodeVersionNotFound is the error for a product version that does not exist.
const CodeVersionNotFound = "version_not_found"

// Product is a thing the vendor sells.
type Product struct {
	ID        int64
	SKU       string `gorm:"column:sku"`
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
	Versions  []ProductVersion `gorm:"-"`
}

// ProductVersion is one release of a product, with its lifecycle phase.
type ProductVersion struct {
	ID         int64
	ProductID  int64
	Version    string
	SortKey    string
	Major      int
	ReleasedOn Date
	Phase      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Parsed is the version as numbers.
func (v *ProductVersion) Parsed() Version {
	p, _ := ParseVersion(v.Version)
	return p
}

// NormaliseSKU upper-cases and trims a SKU: SKUs compare case-insensitively.
func NormaliseSKU(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// VersionInput is a new version.
type VersionInput struct {
	Version    string
	ReleasedOn string
	Phase      string
}

func CheckDate(v *Validation, field, raw string, required bool) Date {
	if raw == "" {
		if required {
			v.Add(field, FieldRequired, "is required (YYYY-MM-DD)")
		}
		return Date{}
	}
	d, err := ParseDate(raw)
	if err != nil {
		v.Add(field, FieldInvalid, "must be a date, YYYY-MM-DD")
	}
	return d
}
