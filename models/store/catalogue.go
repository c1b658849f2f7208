package store

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"

	"gorm.io/gorm"

	"entitled/models"
)

var skuRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9._-]{0,63}$`)

func checkSKU(v *models.Validation, field, raw string) string {
	sku := models.NormaliseSKU(raw)
	switch {
	case sku == "":
		v.Add(field, models.FieldRequired, "is required")
	case !skuRE.MatchString(sku):
		v.Add(field, models.FieldInvalid, "must be letters, digits, '.', '_' or '-', at most 64")
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
func (s *Catalogue) CreateProduct(ctx context.Context, sku, name string, a models.Actor) (_ *models.Product, err error) {
	defer wrapErr(&err, "create a product")
	var v models.Validation
	sku = checkSKU(&v, "sku", sku)
	name = models.CheckName(&v, "name", name, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	p := models.Product{SKU: sku, Name: name, Versions: []models.ProductVersion{}}
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		p.CreatedAt, p.UpdatedAt = now, now
		if err := tx.Create(&p).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "product.created", SubjectType: "product", SubjectID: sku, Details: map[string]any{"name": name}})
	})
	if IsUniqueViolation(err) {
		return nil, models.Errorf(models.CodeConflict, "a product with SKU %s exists already", sku)
	}
	return &p, err
}

// productBySKU loads the product with sku, without its versions. Errors: not_found.
func productBySKU(db *gorm.DB, sku string) (models.Product, error) {
	var p models.Product
	err := db.Where("sku = ?", models.NormaliseSKU(sku)).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return p, models.Errorf(models.CodeNotFound, "there is no product with SKU %q", models.Clip(sku, 64))
	}
	return p, err
}

// Product loads a product with its versions, oldest first. Errors: not_found.
func (s *Catalogue) Product(ctx context.Context, sku string) (_ *models.Product, err error) {
	defer wrapErr(&err, "read a product")
	p, err := productBySKU(s.store.db.WithContext(ctx), sku)
	if err != nil {
		return nil, translate(err)
	}
	if err := s.store.db.WithContext(ctx).Where("product_id = ?", p.ID).Order("sort_key").Find(&p.Versions).Error; err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// Products lists products with their versions, a page at a time in the order they were added.
func (s *Catalogue) Products(ctx context.Context, page models.Page) (_ []models.Product, _ string, err error) {
	defer wrapErr(&err, "list products")
	db := s.store.db.WithContext(ctx)
	products, next, err := pageOf[models.Product](db.Model(&models.Product{}), page, func(p models.Product) int64 { return p.ID })
	if err != nil || len(products) == 0 {
		return products, next, err
	}
	ids := make([]int64, len(products))
	for i := range products {
		ids[i] = products[i].ID
		products[i].Versions = []models.ProductVersion{}
	}
	var versions []models.ProductVersion
	if err := db.Where("product_id IN ?", ids).Order("sort_key").Find(&versions).Error; err != nil {
		return nil, "", translate(err)
	}
	byID := map[int64]*models.Product{}
	for i := range products {
		byID[products[i].ID] = &products[i]
	}
	for _, v := range versions {
		byID[v.ProductID].Versions = append(byID[v.ProductID].Versions, v)
	}
	return products, next, nil
}

func checkPhase(v *models.Validation, field, phase string, required bool) string {
	phase = strings.ToLower(strings.TrimSpace(phase))
	switch {
	case phase == "" && required:
		v.Add(field, models.FieldRequired, "is required: full, limited or discontinued")
	case phase != "" && phase != models.PhaseFull && phase != models.PhaseLimited && phase != models.PhaseDiscontinued:
		v.Add(field, models.FieldInvalid, "must be full, limited or discontinued")
	}
	return phase
}

// AddVersion adds a version to a product. A version released in the future is a scheduled
// release. Errors: validation_failed, not_found (product), conflict (the version exists).
func (s *Catalogue) AddVersion(ctx context.Context, sku string, in models.VersionInput, a models.Actor) (_ *models.ProductVersion, err error) {
	defer wrapErr(&err, "add a product version")
	var v models.Validation
	ver, err := models.ParseVersion(in.Version)
	if in.Version == "" {
		v.Add("version", models.FieldRequired, "is required, e.g. 4.2.1")
	} else if err != nil {
		v.Add("version", models.FieldInvalid, err.Error())
	}
	released := models.CheckDate(&v, "released_on", in.ReleasedOn, true)
	phase := checkPhase(&v, "phase", in.Phase, false)
	if phase == "" {
		phase = models.PhaseFull
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var pv models.ProductVersion
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		p, err := productBySKU(tx, sku)
		if err != nil {
			return err
		}
		now := s.store.Clock.Now()
		pv = models.ProductVersion{ProductID: p.ID, Version: ver.String(), SortKey: ver.SortKey(), Major: ver.Major(), ReleasedOn: released, Phase: phase, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&pv).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "version.created", SubjectType: "product", SubjectID: p.SKU,
			Details: map[string]any{"version": pv.Version, "released_on": released.String(), "phase": phase}})
	})
	if IsUniqueViolation(err) {
		return nil, models.Errorf(models.CodeConflict, "version %s of %s exists already", ver.String(), models.NormaliseSKU(sku))
	}
	return &pv, err
}

// SetPhase moves a version to another lifecycle phase (audited). ifMatch, when set, must match
// the product's current ETag (the version is part of the product's representation).
// Errors: validation_failed, not_found (product), version_not_found, precondition_failed.
func (s *Catalogue) SetPhase(ctx context.Context, sku, version, phase, ifMatch string, a models.Actor) (_ *models.ProductVersion, err error) {
	defer wrapErr(&err, "set a version's phase")
	var v models.Validation
	phase = checkPhase(&v, "phase", phase, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	ver, err := models.ParseVersion(version)
	if err != nil {
		return nil, models.Errorf(models.CodeVersionNotFound, "there is no version %q", models.Clip(version, 32))
	}
	var pv models.ProductVersion
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		p, err := productBySKU(tx, sku)
		if err != nil {
			return err
		}
		if ifMatch != "" {
			if err := lockRow(tx, "products", p.ID); err != nil {
				return err
			}
			if err := tx.Where("product_id = ?", p.ID).Order("sort_key").Find(&p.Versions).Error; err != nil {
				return err
			}
			if err := models.CheckIfMatch(ifMatch, p.ETag()); err != nil {
				return err
			}
		}
		if err := tx.Where("product_id = ? AND sort_key = ?", p.ID, ver.SortKey()).Take(&pv).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.CodeVersionNotFound, "%s has no version %s", p.SKU, ver.String())
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
		return writeAudit(tx, now, a, models.AuditRecord{Action: "version.phase_changed", SubjectType: "product", SubjectID: p.SKU,
			Details: map[string]any{"version": pv.Version, "from": before, "to": phase}})
	})
	return &pv, err
}

// newestSupported is the newest version that is not discontinued (nil when there is none).
func newestSupported(versions []models.ProductVersion) *models.ProductVersion {
	sorted := append([]models.ProductVersion(nil), versions...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].SortKey < sorted[j].SortKey })
	for i := len(sorted) - 1; i >= 0; i-- {
		if sorted[i].Phase != models.PhaseDiscontinued {
			return &sorted[i]
		}
	}
	return nil
}
