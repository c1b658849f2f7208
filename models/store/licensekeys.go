package store

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// LicenseKeys issues, lists and releases license keys.
type LicenseKeys struct {
	store    *Store
	keys     *Keyring
	licenses *Licenses
	issuer   string
	outbox   Outbox // webhook events (license_key.issued, license_key.released); see WithOutbox
}

// WithOutbox gives the service the outbox its webhook events are queued with, and returns it.
func (s *LicenseKeys) WithOutbox(o Outbox) *LicenseKeys {
	s.outbox = o
	return s
}

// NewLicenseKeys makes the license-key service; issuer is ENTITLED_BASE_URL.
func NewLicenseKeys(store *Store, keys *Keyring, issuer string, renewalWindowDays int) *LicenseKeys {
	return &LicenseKeys{store: store, keys: keys, licenses: NewLicenses(store, renewalWindowDays), issuer: issuer}
}

// hostnameLabel is one RFC 1123 label.
var hostnameLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkLicenseKeyInput(in models.LicenseKeyInput) (models.LicenseKeyInput, error) {
	var v models.Validation
	out := models.LicenseKeyInput{Fingerprint: in.Fingerprint, Hostname: strings.TrimSuffix(strings.ToLower(strings.TrimSpace(in.Hostname)), "."),
		Version: strings.TrimSpace(in.Version)}
	if v.Required("fingerprint", in.Fingerprint) {
		printable := true
		for i := 0; i < len(in.Fingerprint); i++ {
			if c := in.Fingerprint[i]; c < 0x20 || c > 0x7e {
				printable = false
			}
		}
		switch {
		case len(in.Fingerprint) < 8:
			v.Add("fingerprint", models.FieldTooShort, "must be 8 to 128 printable ASCII characters")
		case len(in.Fingerprint) > 128:
			v.Add("fingerprint", models.FieldTooLong, "must be 8 to 128 printable ASCII characters")
		case !printable:
			v.Add("fingerprint", models.FieldInvalid, "must be 8 to 128 printable ASCII characters")
		}
	}
	if v.Required("hostname", out.Hostname) {
		ok := len(out.Hostname) <= 253
		for _, l := range strings.Split(out.Hostname, ".") {
			ok = ok && hostnameLabel.MatchString(l)
		}
		if !ok {
			v.Add("hostname", models.FieldInvalid, "must be a host name (RFC 1123): labels of letters, digits and hyphens, at most 253 characters")
		}
	}
	v.Required("version", out.Version)
	return out, v.Err()
}

// Issue gives a License User a key for a machine and a version. The version must exist for the
// license's product and license.keys must be allowed for it. One key per machine and major
// version: the same fingerprint and major version again answer that key (same id, freshly
// signed, Created false) without taking a seat; a new major version on a machine that has a seat
// gets a new key on that seat; a new machine takes a seat, and past quantity the answer is
// seats_exhausted — counted under the license's lock, so that racing requests never take more.
// Errors: forbidden, email_unverified, invalid_license_number, not_a_member, role_missing,
// validation_failed, version_not_found, the license.keys denial reasons, seats_exhausted.
func (s *LicenseKeys) Issue(ctx context.Context, p *models.Principal, ln string, in models.LicenseKeyInput, a models.Actor) (_ *models.IssuedLicenseKey, err error) {
	defer wrapErr(&err, "issue a license key")
	out, err := s.issue(ctx, p, ln, in, a)
	if IsUniqueViolation(err) {
		// The same machine and major version asked twice at once, and the other request made the
		// key first (the license lock makes this all but impossible): answer that key.
		out, err = s.issue(ctx, p, ln, in, a)
	}
	return out, err
}

func (s *LicenseKeys) issue(ctx context.Context, p *models.Principal, ln string, in models.LicenseKeyInput, a models.Actor) (*models.IssuedLicenseKey, error) {
	if err := verifiedPerson(p, "license keys are for people"); err != nil {
		return nil, err
	}
	if _, err := models.ParseLicenseNumber(ln); err != nil {
		return nil, err
	}
	// The signing key is taken before the transaction: signing then never waits on the database.
	sg, err := s.keys.signerFor(ctx, models.PurposeLicense)
	if err != nil {
		return nil, err
	}
	var out *models.IssuedLicenseKey
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		acc, err := access(tx, p, ln, models.MemberLicense)
		if err != nil {
			return err
		}
		if err := lockLicense(tx, acc.License.ID); err != nil {
			return err
		}
		in, err := checkLicenseKeyInput(in)
		if err != nil {
			return err
		}
		terminated, err := contractTerminated(tx, acc.License.ID) // before the contract is read: see contractTerminated
		if err != nil {
			return err
		}
		d, err := loadLicenseDetail(tx, "licenses.id = ?", acc.License.ID)
		if err != nil {
			return err
		}
		ver, err := s.store.findVersion(tx, d.License.ProductID, in.Version)
		if err != nil {
			return err
		}
		now := s.store.Clock.Now().UTC().Truncate(time.Second)
		today := models.DateOf(now)
		if ok, reason, _ := models.Check(s.licenses.entitlementInput(d, acc.Member, ver, today), models.EntitlementLicenseKeys); !ok {
			return models.Errorf(reason, "no license key for version %s: %s", ver.Version, strings.ReplaceAll(reason, "_", " "))
		}

		var key models.LicenseKey
		err = tx.Where("license_id = ? AND fingerprint = ? AND ver_major = ? AND released_at IS NULL", d.License.ID, in.Fingerprint, ver.Major).Take(&key).Error
		created := errors.Is(err, gorm.ErrRecordNotFound)
		if err != nil && !created {
			return err
		}
		if created {
			var seated int64
			if err := tx.Model(&models.LicenseKey{}).Where("license_id = ? AND fingerprint = ? AND released_at IS NULL", d.License.ID, in.Fingerprint).Count(&seated).Error; err != nil {
				return err
			}
			if seated == 0 {
				seats, err := seatsUsed(tx, d.License.ID)
				if err != nil {
					return err
				}
				if seats >= int64(d.License.Quantity) {
					return models.Errorf(models.CodeSeatsExhausted, "every seat of license %s has a machine (%d of %d): release one first", d.License.LicenseNumber, seats, d.License.Quantity)
				}
			}
			key = models.LicenseKey{LicenseID: d.License.ID, Fingerprint: in.Fingerprint, IssuedBy: &p.UserID, IssuedAt: now}
		} else {
			key.ReissuedAt = &now
		}
		key.Hostname, key.Version, key.VerMajor = in.Hostname, ver.Version, ver.Major
		key.SupportEndsOn, key.ExpiresAt = licenseKeyTerms(d)
		if _, ok := key.Status(); !ok {
			// One index per key, kept by its re-issues (a key issued before status lists gets
			// one at its first re-issue).
			ref, err := allocateStatus(tx, now, terminated)
			if err != nil {
				return err
			}
			key.StatusListID, key.StatusIdx = setStatusRef(&ref)
		}
		if created {
			if err := tx.Create(&key).Error; err != nil {
				return err
			}
		}

		claims := &verify.LicenseClaims{Issuer: s.issuer, ID: strconv.FormatInt(key.ID, 10), IssuedAt: jwt.NewNumericDate(now),
			License: d.License.LicenseNumber, SKU: d.Product.SKU, VerMajor: ver.Major, Fingerprint: key.Fingerprint, Host: key.Hostname,
			SupportEndsOn: key.SupportEndsOn.String()}
		if key.ExpiresAt != nil {
			claims.ExpiresAt = jwt.NewNumericDate(*key.ExpiresAt)
		}
		if ref, ok := key.Status(); ok {
			claims.Status = &verify.StatusClaim{StatusList: verify.StatusListRef{Index: ref.Idx, URI: statusListURI(s.issuer, ref.List)}}
		}
		token, kid, err := sg.sign(verify.TypLicense, claims)
		if err != nil {
			return err
		}
		// The signing key must still be published when this commits: a rotation retires a
		// license signing key only when no key it signed is out, under the exclusive lock.
		if err := lockKeysShared(tx); err != nil {
			return err
		}
		if ok, err := stillPublished(tx, kid); err != nil || !ok {
			if err == nil {
				err = models.Errorf(models.CodeUnavailable, "the signing keys are being rotated: try again in a few seconds")
			}
			return err
		}
		if !strings.Contains(key.Kids, kid) {
			key.Kids = strings.TrimPrefix(key.Kids+","+kid, ",")
		}
		if err := tx.Model(&models.LicenseKey{}).Where("id = ?", key.ID).Updates(map[string]any{
			"hostname": key.Hostname, "version": key.Version, "kids": key.Kids, "reissued_at": key.ReissuedAt,
			"expires_at": key.ExpiresAt, "support_ends_on": key.SupportEndsOn, "status_list_id": key.StatusListID, "status_idx": key.StatusIdx,
			"token": token,
		}).Error; err != nil {
			return err
		}
		action := "license_key.issued"
		if !created {
			action = "license_key.reissued"
		}
		if err := writeAudit(tx, now, a, models.AuditRecord{Action: action, SubjectType: "license_key", SubjectID: claims.ID, LicenseID: d.License.ID,
			Details: map[string]any{"fingerprint": key.Fingerprint, "hostname": key.Hostname, "version": key.Version, "ver_major": key.VerMajor, "kid": kid}}); err != nil {
			return err
		}
		if created {
			if err := emitLicenseKey(ctx, tx, s.outbox, now, models.EventLicenseKeyIssued, &d.License, &key); err != nil {
				return err
			}
		}
		key.Token = token
		out = &models.IssuedLicenseKey{Key: key, Token: token, Created: created}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// licenseKeyTerms are a key's support_ends_on (zero without support) and exp: only trial and
// subscription licenses expire, at the end of the contract's ends_on (the last covered day).
func licenseKeyTerms(d *models.LicenseDetail) (models.Date, *time.Time) {
	c := d.Contract
	if c == nil {
		return models.Date{}, nil
	}
	end := models.EffectiveEndsOn(c.Facts())
	if end.IsZero() || (d.License.Kind != models.KindTrial && d.License.Kind != models.KindSubscription && !c.Trial) {
		return end, nil
	}
	exp := end.AddDays(1).Time()
	return end, &exp
}

// keyListAccess checks that the principal may see and release a license's keys: a member with the
// license or admin role, or staff who act as admin (support, superadmin) — models.MayManageKeys,
// decided by access (models.LicenseAccess) with this call's error codes.
// Errors: invalid_license_number, not_found, not_a_member, role_missing.
func keyListAccess(tx *gorm.DB, p *models.Principal, ln string) (*licenseAccess, error) {
	if models.StaffActsAsAdmin(p) {
		return access(tx, p, ln, models.MemberAdmin)
	}
	acc, err := access(tx, p, ln, models.MemberLicense)
	if ErrorCode(err) == models.CodeRoleMissing {
		if acc, err := access(tx, p, ln, models.MemberAdmin); err == nil {
			return acc, nil
		}
		canonical, _ := models.ParseLicenseNumber(ln)
		return nil, models.Errorf(models.CodeRoleMissing, "this needs the license or admin role on license %s", canonical)
	}
	return acc, err
}

// seatsUsed counts the seats of a license that machines hold: the distinct fingerprints of its
// unreleased keys (a machine holds one seat whatever number of major versions it has keys for).
func seatsUsed(tx *gorm.DB, licenseID int64) (int64, error) {
	var seats int64
	err := tx.Model(&models.LicenseKey{}).Where("license_id = ? AND released_at IS NULL", licenseID).Distinct("fingerprint").Count(&seats).Error
	return seats, err
}

// SeatsUsed counts the seats of the license that machines hold, by one query, for who may list
// its keys (as List). Errors: invalid_license_number, not_found, not_a_member, role_missing.
func (s *LicenseKeys) SeatsUsed(ctx context.Context, p *models.Principal, ln string) (_ int, err error) {
	defer wrapErr(&err, "count seats")
	var seats int64
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acc, err := keyListAccess(db, p, ln)
		if err != nil {
			return err
		}
		seats, err = seatsUsed(db, acc.License.ID)
		return err
	})
	return int(seats), err
}

// List lists a license's unreleased keys, oldest first, a page at a time.
func (s *LicenseKeys) List(ctx context.Context, p *models.Principal, ln string, page models.Page) (_ []models.LicenseKeyView, _ string, err error) {
	defer wrapErr(&err, "list license keys")
	var out []models.LicenseKeyView
	next := ""
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acc, err := keyListAccess(db, p, ln)
		if err != nil {
			return err
		}
		q := db.Table("license_keys").Select("license_keys.*, COALESCE(users.email, '') AS issued_to").
			Joins("LEFT JOIN users ON users.id = license_keys.issued_by").
			Where("license_keys.license_id = ? AND license_keys.released_at IS NULL", acc.License.ID)
		if page.After != 0 {
			q = q.Where("license_keys.id > ?", page.After)
		}
		if err := q.Order("license_keys.id").Limit(page.Limit + 1).Scan(&out).Error; err != nil {
			return err
		}
		if len(out) > page.Limit {
			out = out[:page.Limit]
			next = encodeCursor(out[len(out)-1].ID)
		}
		return nil
	})
	return out, next, err
}

// Key is one unreleased key of a license with the token last signed for it, for who may list the
// license's keys (as List). Errors: invalid_license_number, not_a_member, role_missing, not_found.
func (s *LicenseKeys) Key(ctx context.Context, p *models.Principal, ln, id string) (_ *models.IssuedLicenseKey, err error) {
	defer wrapErr(&err, "read a license key")
	keyID, err := strconv.ParseInt(id, 10, 64)
	if err != nil || keyID <= 0 {
		return nil, models.Errorf(models.CodeNotFound, "there is no license key %q", models.Clip(id, 32))
	}
	var out models.IssuedLicenseKey
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acc, err := keyListAccess(db, p, ln)
		if err != nil {
			return err
		}
		if err := db.Where("id = ? AND license_id = ? AND released_at IS NULL", keyID, acc.License.ID).Take(&out.Key).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.CodeNotFound, "license %s has no license key %d", acc.License.LicenseNumber, keyID)
			}
			return err
		}
		out.Token = out.Key.Token
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Release releases a key, and with the machine's last key its seat, saying who and why in the
// audit log. Errors: invalid_license_number, not_a_member, role_missing, not_found.
func (s *LicenseKeys) Release(ctx context.Context, p *models.Principal, ln, id, reason string, a models.Actor) (err error) {
	defer wrapErr(&err, "release a seat")
	keyID, err := strconv.ParseInt(id, 10, 64)
	if err != nil || keyID <= 0 {
		return models.Errorf(models.CodeNotFound, "there is no license key %q", models.Clip(id, 32))
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 {
		var v models.Validation
		v.Add("reason", models.FieldTooLong, "must be at most 500 characters")
		return v.Err()
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		acc, err := keyListAccess(tx, p, ln)
		if err != nil {
			return err
		}
		if err := lockLicense(tx, acc.License.ID); err != nil {
			return err
		}
		var key models.LicenseKey
		if err := tx.Where("id = ? AND license_id = ? AND released_at IS NULL", keyID, acc.License.ID).Take(&key).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.CodeNotFound, "license %s has no license key %d", acc.License.LicenseNumber, keyID)
			}
			return err
		}
		now := s.store.Clock.Now()
		upd := map[string]any{"released_at": now, "release_reason": reason}
		if p.IsUser() {
			upd["released_by"] = p.UserID
		}
		if err := tx.Model(&models.LicenseKey{}).Where("id = ?", key.ID).Updates(upd).Error; err != nil {
			return err
		}
		if ref, ok := key.Status(); ok {
			if err := revokeStatus(tx, now, ref); err != nil {
				return err
			}
		}
		var left int64
		if err := tx.Model(&models.LicenseKey{}).Where("license_id = ? AND fingerprint = ? AND released_at IS NULL", acc.License.ID, key.Fingerprint).Count(&left).Error; err != nil {
			return err
		}
		if err := emitLicenseKey(ctx, tx, s.outbox, now, models.EventLicenseKeyReleased, &acc.License, &key); err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "license_key.released", SubjectType: "license_key", SubjectID: itoa64(key.ID), LicenseID: acc.License.ID,
			Details: map[string]any{"fingerprint": key.Fingerprint, "hostname": key.Hostname, "ver_major": key.VerMajor, "reason": reason, "seat_freed": left == 0}})
	})
}
