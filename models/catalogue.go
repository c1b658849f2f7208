package models

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Version lifecycle phases.
const (
	PhaseFull         = "full"
	PhaseLimited      = "limited"
	PhaseDiscontinued = "discontinued"
)

// Phases lists the lifecycle phases in order.
var Phases = []string{PhaseFull, PhaseLimited, PhaseDiscontinued}

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

var skuRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9._-]{0,63}$`)

// NormaliseSKU upper-cases and trims a SKU: SKUs compare case-insensitively.
func NormaliseSKU(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func checkSKU(v *Validation, field, raw string) string {
	sku := NormaliseSKU(raw)
	switch {
	case sku == "":
		v.Add(field, FieldRequired, "is required")
	case !skuRE.MatchString(sku):
		v.Add(field, FieldInvalid, "must be letters, digits, '.', '_' or '-', at most 64")
	}
	return sku
}

// Catalogue is the service for products and versions.
type Catalogue struct {
	store *Store
}

// NewCatalogue makes the catalogue service.
func NewCatalogue(store *Store) *Catalogue { return &Catalogue{store: store} }

// CreateProduct adds a product. Errors: validation_failed, conflict (the SKU exists).
func (s *Catalogue) CreateProduct(ctx context.Context, sku, name string, a Actor) (*Product, error) {
	var v Validation
	sku = checkSKU(&v, "sku", sku)
	name = checkName(&v, "name", name, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	p := Product{SKU: sku, Name: name, Versions: []ProductVersion{}}
	err := s.store.WithTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		p.CreatedAt, p.UpdatedAt = now, now
		if err := tx.Create(&p).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, AuditRecord{Action: "product.created", SubjectType: "product", SubjectID: sku, Details: map[string]any{"name": name}})
	})
	if IsUniqueViolation(err) {
		return nil, Errorf(CodeConflict, "a product with SKU %s exists already", sku)
	}
	return &p, err
}

// Product loads a product with its versions, oldest first. Errors: not_found.
func (s *Catalogue) Product(ctx context.Context, sku string) (*Product, error) {
	var p Product
	err := s.store.DB.WithContext(ctx).Where("sku = ?", NormaliseSKU(sku)).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, Errorf(CodeNotFound, "there is no product with SKU %q", clip(sku, 64))
	}
	if err != nil {
		return nil, Translate(err)
	}
	if err := s.store.DB.WithContext(ctx).Where("product_id = ?", p.ID).Order("sort_key").Find(&p.Versions).Error; err != nil {
		return nil, Translate(err)
	}
	return &p, nil
}

// Products lists products with their versions, a page at a time in the order they were added.
func (s *Catalogue) Products(ctx context.Context, page Page) ([]Product, string, error) {
	db := s.store.DB.WithContext(ctx)
	products, next, err := pageOf[Product](db.Model(&Product{}), page, func(p Product) int64 { return p.ID })
	if err != nil || len(products) == 0 {
		return products, next, err
	}
	ids := make([]int64, len(products))
	for i := range products {
		ids[i] = products[i].ID
		products[i].Versions = []ProductVersion{}
	}
	var versions []ProductVersion
	if err := db.Where("product_id IN ?", ids).Order("sort_key").Find(&versions).Error; err != nil {
		return nil, "", Translate(err)
	}
	byID := map[int64]*Product{}
	for i := range products {
		byID[products[i].ID] = &products[i]
	}
	for _, v := range versions {
		byID[v.ProductID].Versions = append(byID[v.ProductID].Versions, v)
	}
	return products, next, nil
}

// VersionInput is a new version.
type VersionInput struct {
	Version    string
	ReleasedOn string
	Phase      string
}

func checkPhase(v *Validation, field, phase string, required bool) string {
	phase = strings.ToLower(strings.TrimSpace(phase))
	switch {
	case phase == "" && required:
		v.Add(field, FieldRequired, "is required: full, limited or discontinued")
	case phase != "" && phase != PhaseFull && phase != PhaseLimited && phase != PhaseDiscontinued:
		v.Add(field, FieldInvalid, "must be full, limited or discontinued")
	}
	return phase
}

func checkDate(v *Validation, field, raw string, required bool) Date {
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

// AddVersion adds a version to a product. A version released in the future is a scheduled
// release. Errors: validation_failed, not_found (product), conflict (the version exists).
func (s *Catalogue) AddVersion(ctx context.Context, sku string, in VersionInput, a Actor) (*ProductVersion, error) {
	var v Validation
	ver, err := ParseVersion(in.Version)
	if in.Version == "" {
		v.Add("version", FieldRequired, "is required, e.g. 4.2.1")
	} else if err != nil {
		v.Add("version", FieldInvalid, err.Error())
	}
	released := checkDate(&v, "released_on", in.ReleasedOn, true)
	phase := checkPhase(&v, "phase", in.Phase, false)
	if phase == "" {
		phase = PhaseFull
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var pv ProductVersion
	err = s.store.WithTx(ctx, func(tx *gorm.DB) error {
		var p Product
		if err := tx.Where("sku = ?", NormaliseSKU(sku)).Take(&p).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return Errorf(CodeNotFound, "there is no product with SKU %q", clip(sku, 64))
			}
			return err
		}
		now := s.store.Clock.Now()
		pv = ProductVersion{ProductID: p.ID, Version: ver.String(), SortKey: ver.SortKey(), Major: ver.Major(), ReleasedOn: released, Phase: phase, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&pv).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, AuditRecord{Action: "version.created", SubjectType: "product", SubjectID: p.SKU,
			Details: map[string]any{"version": pv.Version, "released_on": released.String(), "phase": phase}})
	})
	if IsUniqueViolation(err) {
		return nil, Errorf(CodeConflict, "version %s of %s exists already", ver.String(), NormaliseSKU(sku))
	}
	return &pv, err
}

// SetPhase moves a version to another lifecycle phase (audited).
// Errors: validation_failed, not_found (product), version_not_found.
func (s *Catalogue) SetPhase(ctx context.Context, sku, version, phase string, a Actor) (*ProductVersion, error) {
	var v Validation
	phase = checkPhase(&v, "phase", phase, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	ver, err := ParseVersion(version)
	if err != nil {
		return nil, Errorf(CodeVersionNotFound, "there is no version %q", clip(version, 32))
	}
	var pv ProductVersion
	err = s.store.WithTx(ctx, func(tx *gorm.DB) error {
		var p Product
		if err := tx.Where("sku = ?", NormaliseSKU(sku)).Take(&p).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return Errorf(CodeNotFound, "there is no product with SKU %q", clip(sku, 64))
			}
			return err
		}
		if err := tx.Where("product_id = ? AND sort_key = ?", p.ID, ver.SortKey()).Take(&pv).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return Errorf(CodeVersionNotFound, "%s has no version %s", p.SKU, ver.String())
			}
			return err
		}
		if pv.Phase == phase {
			return nil
		}
		now := s.store.Clock.Now()
		before := pv.Phase
		pv.Phase, pv.UpdatedAt = phase, now
		if err := tx.Model(&pv).Select("phase", "updated_at").Updates(&pv).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, AuditRecord{Action: "version.phase_changed", SubjectType: "product", SubjectID: p.SKU,
			Details: map[string]any{"version": pv.Version, "from": before, "to": phase}})
	})
	return &pv, err
}

// newestSupported is the newest version that is not discontinued (nil when there is none).
func newestSupported(versions []ProductVersion) *ProductVersion {
	sorted := append([]ProductVersion(nil), versions...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].SortKey < sorted[j].SortKey })
	for i := len(sorted) - 1; i >= 0; i-- {
		if sorted[i].Phase != PhaseDiscontinued {
			return &sorted[i]
		}
	}
	return nil
}
