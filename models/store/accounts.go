package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// newAccountID draws a random 7-digit Account ID that no account has, so that numbers say
// nothing about how many customers there are or in what order they came.
func newAccountID(tx *gorm.DB) (string, error) {
	return drawFree(tx, &models.Account{}, "account_id", "Account ID", 20, func() (string, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(9_000_000))
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(n.Int64()+1_000_000, 10), nil
	})
}

// drawFree draws up to tries values with draw and returns the first that no row of model has in
// column; what names the value in the error when every one was taken.
func drawFree(tx *gorm.DB, model any, column, what string, tries int, draw func() (string, error)) (string, error) {
	for range tries {
		v, err := draw()
		if err != nil {
			return "", err
		}
		var count int64
		if err := tx.Model(model).Where(column+" = ?", v).Count(&count).Error; err != nil {
			return "", err
		}
		if count == 0 {
			return v, nil
		}
	}
	return "", fmt.Errorf("no free %s after %d draws", what, tries)
}

// Accounts is the service for accounts: contact changes and recovery of their numbers.
type Accounts struct {
	store   *Store
	outbox  Outbox
	baseURL string
}

// NewAccounts makes the accounts service.
func NewAccounts(store *Store, outbox Outbox, baseURL string) *Accounts {
	return &Accounts{store: store, outbox: outbox, baseURL: strings.TrimRight(baseURL, "/")}
}

// Update changes an account's name or primary contact; later letters go to the new contact.
// in.IfMatch, when set, must match the account's current ETag. Errors: not_found,
// validation_failed, precondition_failed.
func (s *Accounts) Update(ctx context.Context, accountID string, in models.AccountPatch, a models.Actor) (_ *models.Account, err error) {
	defer wrapErr(&err, "update an account")
	id, ok := models.ParseAccountID(accountID)
	if !ok {
		return nil, models.Errorf(models.CodeNotFound, "there is no account %q", models.Clip(accountID, 16))
	}
	var v models.Validation
	cols := []string{"updated_at"}
	var acct models.Account
	changes := map[string]any{}
	if in.Name != nil {
		acct.Name = models.CheckName(&v, "name", *in.Name, true)
		cols = append(cols, "name")
		changes["name"] = acct.Name
	}
	if in.ContactName != nil {
		acct.ContactName = models.CheckName(&v, "primary_contact.name", *in.ContactName, true)
		cols = append(cols, "contact_name")
		changes["contact_name"] = acct.ContactName
	}
	if in.ContactEmail != nil {
		acct.ContactEmail = models.CheckEmail(&v, "primary_contact.email", *in.ContactEmail)
		cols = append(cols, "contact_email")
		changes["contact_email"] = acct.ContactEmail
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out models.Account
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("account_id = ?", id).Take(&out).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.CodeNotFound, "there is no account %s", id)
			}
			return err
		}
		if in.IfMatch != "" {
			if err := lockRow(tx, "accounts", out.ID); err != nil {
				return err
			}
			if err := tx.Take(&out, out.ID).Error; err != nil {
				return err
			}
			if err := models.CheckIfMatch(in.IfMatch, out.ETag()); err != nil {
				return err
			}
		}
		if len(changes) == 0 {
			return nil
		}
		now := s.store.Clock.Now()
		acct.UpdatedAt = now
		if err := tx.Model(&models.Account{}).Where("id = ?", out.ID).Select(cols).Updates(&acct).Error; err != nil {
			return err
		}
		if err := tx.Take(&out, out.ID).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "account.updated", SubjectType: "account", SubjectID: id, Details: changes})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Recover re-sends the Account IDs and License Numbers of every account whose primary contact is
// the email, in one letter, after answering. It answers the same whatever the email, in the same
// time: the request does the same work whatever the address (one job), and the job
// (recoverLetter) looks for the accounts. At most RecoveryLettersPerHour letters go to one
// address. Errors: validation_failed.
func (s *Accounts) Recover(ctx context.Context, email string) (err error) {
	defer wrapErr(&err, "recover accounts")
	return s.store.requestLetter(ctx, s.outbox, email, func(r letterRequest) river.JobArgs { return recoverLetterArgs{r} })
}

// recoveryLetter queues the recovery letter of the accounts whose primary contact is email, if
// there are any and the address's cap allows.
func recoveryLetter(ctx context.Context, tx *gorm.DB, outbox Outbox, links mailer.Links, email string, now time.Time) error {
	var accounts []models.Account
	if err := tx.Where("contact_email = ?", email).Order("id").Find(&accounts).Error; err != nil {
		return err
	}
	if len(accounts) == 0 {
		return nil
	}
	ok, err := letterAllowedMax(tx, now, email, mailer.AccountRecovery{}.Template(), models.RecoveryLettersPerHour)
	if err != nil || !ok {
		return err
	}
	msg := mailer.AccountRecovery{Name: accounts[0].ContactName, RegisterURL: links.Register()}
	for _, acct := range accounts {
		lines, err := licenseLines(tx, "licenses.account_id = ?", acct.ID)
		if err != nil {
			return err
		}
		msg.Accounts = append(msg.Accounts, mailer.RecoveredAccount{AccountID: acct.AccountID, Name: acct.Name, Licenses: lines})
	}
	_, err = queueLetter(ctx, tx, outbox, msg, []string{email}, nil)
	return err
}

// licenseLines lists licenses as letters show them.
func licenseLines(tx *gorm.DB, where string, args ...any) ([]mailer.LicenseLine, error) {
	var rows []struct {
		LicenseNumber string
		Quantity      int
		Kind          string
		ServiceTag    *string
		SKU           string `gorm:"column:sku"`
		Name          string
	}
	err := tx.Table("licenses").Select("licenses.license_number, licenses.quantity, licenses.kind, licenses.service_tag, products.sku, products.name").
		Joins("JOIN products ON products.id = licenses.product_id").Where(where, args...).Order("licenses.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]mailer.LicenseLine, 0, len(rows))
	for _, r := range rows {
		l := mailer.LicenseLine{LicenseNumber: r.LicenseNumber, Product: r.Name, SKU: r.SKU, Quantity: r.Quantity, Kind: r.Kind}
		if r.ServiceTag != nil {
			l.ServiceTag = *r.ServiceTag
		}
		out = append(out, l)
	}
	return out, nil
}
