package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// Registrations is the service for registering licenses, members, join requests and invitations.
type Registrations struct {
	store  *Store
	outbox Outbox
	links  mailer.Links
}

// NewRegistrations makes the registrations service.
func NewRegistrations(store *Store, outbox Outbox, baseURL string) *Registrations {
	return &Registrations{store: store, outbox: outbox, links: mailer.NewLinks(baseURL)}
}

// queue queues a letter to the addresses that can take mail; an address stored before addresses
// were checked as they are now (an order's contact such as x@[10.0.0.1]) is left out, so that it
// never stops a registration or the letters to anyone else.
func (s *Registrations) queue(ctx context.Context, tx *gorm.DB, m mailer.Message, addrs ...string) error {
	to := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a, ok := mailable(a); ok {
			to = append(to, a)
		} else {
			s.store.log.WarnContext(ctx, "letter not queued to an address that cannot take mail", "kind", m.Template())
		}
	}
	if len(to) == 0 {
		return nil
	}
	_, err := queueLetter(ctx, tx, s.outbox, m, to, nil)
	return err
}

// Register registers a license for a verified user. The first registrant of a license with no
// admin becomes its admin (with support and license), decided by one conditional update so that
// of many simultaneous registrants exactly one wins; the others, and anyone registering a license
// that has an admin, file a join request its admins are told of. Registering by Account ID always
// files a join request with the account's admins.
// Errors: email_unverified, validation_failed, invalid_license_number, license_not_found,
// account_not_found, no_admin_for_account, too_many_attempts.
func (s *Registrations) Register(ctx context.Context, p *models.Principal, in models.RegistrationInput, a models.Actor) (_ *models.RegistrationResult, err error) {
	defer wrapErr(&err, "register a license")
	if err := verifiedPerson(p, "only a person can register a license"); err != nil {
		return nil, err
	}
	var v models.Validation
	given := 0
	for _, f := range []string{in.LicenseNumber, in.ServiceTag, in.AccountID} {
		if strings.TrimSpace(f) != "" {
			given++
		}
	}
	if given != 1 {
		v.Add("license_number", models.FieldRequired, "give exactly one of license_number, service_tag or account_id")
		return nil, v.Err()
	}
	ln, tag, acctID := "", "", ""
	switch {
	case in.LicenseNumber != "":
		var err error
		if ln, err = models.ParseLicenseNumber(in.LicenseNumber); err != nil {
			return nil, err // a typo, caught by the check character: not a guess
		}
	case in.ServiceTag != "":
		tag = models.NormaliseServiceTag(in.ServiceTag)
		if !serviceTagRE.MatchString(tag) {
			v.Add("service_tag", models.FieldInvalid, "must be 7 letters or digits")
		}
	default:
		var ok bool
		if acctID, ok = models.ParseAccountID(in.AccountID); !ok {
			v.Add("account_id", models.FieldInvalid, "must be a 7-digit Account ID")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	// A user who failed too many lookups is refused up front. The address's limit refuses nobody
	// up front (one client must not lock out everyone behind its address): it only turns a failed
	// lookup into too_many_attempts.
	userKey := strconv.FormatInt(p.UserID, 10)
	if err := s.store.checkLimit(ctx, models.LookupPerUser, userKey); err != nil {
		return nil, err
	}
	var res *models.RegistrationResult
	miss := false
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		if acctID != "" {
			var acct models.Account
			err := tx.Where("account_id = ?", acctID).Take(&acct).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				miss = true
				return models.Errorf(models.CodeAccountNotFound, "there is no account %s", acctID)
			}
			if err != nil {
				return err
			}
			res, err = s.requestAccount(ctx, tx, p, &acct, a)
			return err
		}
		var lic models.License
		q := tx.Where("license_number = ?", ln)
		if tag != "" {
			q = tx.Where("service_tag = ?", tag)
		}
		err := q.Take(&lic).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			miss = true
			return models.Errorf(models.CodeLicenseNotFound, "no license has this number; check it against your welcome letter, or ask for registration help")
		}
		if err != nil {
			return err
		}
		res, err = s.registerLicense(ctx, tx, p, &lic, a)
		return err
	})
	if miss {
		// Count the failed guess outside the transaction that failed. An address over its limit
		// before this failure gets too_many_attempts instead of the miss.
		over := s.store.checkLimit(ctx, models.LookupPerAddress, a.IP)
		if over != nil && ErrorCode(over) != models.CodeTooManyAttempts {
			return nil, over
		}
		if err := s.store.recordFailure(ctx, models.LookupPerUser, userKey); err != nil {
			return nil, err
		}
		if err := s.store.recordFailure(ctx, models.LookupPerAddress, a.IP); err != nil {
			return nil, err
		}
		if over != nil {
			return nil, over
		}
	}
	if err == nil {
		failpoint("registration.after_commit")
	}
	return res, err
}

func (s *Registrations) registerLicense(ctx context.Context, tx *gorm.DB, p *models.Principal, lic *models.License, a models.Actor) (*models.RegistrationResult, error) {
	now := s.store.Clock.Now()
	if m, err := memberOf(tx, lic.ID, p.UserID); err != nil || m != nil {
		if err != nil {
			return nil, err
		}
		return &models.RegistrationResult{Outcome: models.AlreadyMember, LicenseNumber: lic.LicenseNumber, Roles: m.Roles()}, nil
	}
	claimed, err := claimLicense(tx, lic.ID, p.UserID, a, now)
	if err != nil {
		return nil, err
	}
	if claimed {
		return s.becomeFirstAdmin(ctx, tx, p, lic, a, now)
	}
	if err := lockLicense(tx, lic.ID); err != nil {
		return nil, err
	}
	req := models.JoinRequest{UserID: p.UserID, LicenseID: &lic.ID, Status: models.RequestPending, CreatedAt: now}
	filed, err := fileJoinRequest(tx, &req, "license_id", lic.ID)
	if err != nil {
		return nil, err
	}
	if !filed {
		return &models.RegistrationResult{Outcome: models.RegistrationWaits, LicenseNumber: lic.LicenseNumber, RequestID: req.ID}, nil
	}
	if err := writeAudit(tx, now, a, models.AuditRecord{Action: "registration.requested", SubjectType: "license", SubjectID: lic.LicenseNumber,
		LicenseID: lic.ID, Details: map[string]any{"request_id": strconv.FormatInt(req.ID, 10), "email": p.Email}}); err != nil {
		return nil, err
	}
	licAccount, err := accountNumber(tx, lic.AccountID)
	if err != nil {
		return nil, err
	}
	if err := emitJoinRequest(ctx, tx, s.outbox, &req, p, lic.LicenseNumber, licAccount); err != nil {
		return nil, err
	}
	admins, err := licenseAdminEmails(tx, lic.ID)
	if err != nil {
		return nil, err
	}
	product, err := productName(tx, lic.ProductID)
	if err != nil {
		return nil, err
	}
	for _, to := range admins {
		if err := s.queue(ctx, tx, mailer.JoinRequested{Requester: p.Name + " <" + p.Email + ">", LicenseNumber: lic.LicenseNumber,
			ProductName: product, ReviewURL: s.links.LicenseRequests(lic.LicenseNumber)}, to); err != nil {
			return nil, err
		}
	}
	return &models.RegistrationResult{Outcome: models.RegistrationWaits, LicenseNumber: lic.LicenseNumber, RequestID: req.ID}, nil
}

// becomeFirstAdmin makes the claimant (claimLicense has just claimed the license for them, and
// started a trial's support) admin, and tells the order's primary contact who registered it.
func (s *Registrations) becomeFirstAdmin(ctx context.Context, tx *gorm.DB, p *models.Principal, lic *models.License, a models.Actor, now time.Time) (*models.RegistrationResult, error) {
	roles := []string{models.MemberAdmin, models.MemberSupport, models.MemberLicense}
	if _, _, err := putMember(tx, now, lic.ID, p.UserID, roles, a); err != nil {
		return nil, err
	}
	failpoint("registration.before_commit")
	if err := writeAudit(tx, now, a, models.AuditRecord{Action: "registration.claimed", SubjectType: "license", SubjectID: lic.LicenseNumber,
		LicenseID: lic.ID, Details: map[string]any{"email": p.Email, "roles": roles}}); err != nil {
		return nil, err
	}
	var acct models.Account
	if err := tx.Take(&acct, lic.AccountID).Error; err != nil {
		return nil, err
	}
	if err := emit(ctx, tx, s.outbox, now, models.EventLicenseRegistered, acct.AccountID, map[string]any{
		"license_number": lic.LicenseNumber, "account_id": acct.AccountID, "user": map[string]any{"id": itoa64(p.UserID), "email": p.Email},
	}); err != nil {
		return nil, err
	}
	product, err := productName(tx, lic.ProductID)
	if err != nil {
		return nil, err
	}
	if err := s.queue(ctx, tx, mailer.ClaimNotice{Name: acct.ContactName, LicenseNumber: lic.LicenseNumber, ProductName: product,
		ClaimedBy: p.Name + " <" + p.Email + ">", HelpURL: s.links.RegistrationHelp()}, acct.ContactEmail); err != nil {
		return nil, err
	}
	return &models.RegistrationResult{Outcome: models.Registered, LicenseNumber: lic.LicenseNumber, Roles: roles}, nil
}

// requestAccount files a join request with the admins of every license of the account.
func (s *Registrations) requestAccount(ctx context.Context, tx *gorm.DB, p *models.Principal, acct *models.Account, a models.Actor) (*models.RegistrationResult, error) {
	now := s.store.Clock.Now()
	var ids []int64
	if err := tx.Model(&models.License{}).Where("account_id = ?", acct.ID).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, err
	}
	admins := []string{}
	if len(ids) > 0 {
		var err error
		if admins, err = licenseAdminEmails(tx, ids...); err != nil {
			return nil, err
		}
	}
	if len(admins) == 0 {
		return nil, models.Errorf(models.CodeNoAdminForAccount, "no one has registered a license of account %s yet: register with a License Number from your welcome letter, or ask for registration help", acct.AccountID)
	}
	req := models.JoinRequest{UserID: p.UserID, AccountID: &acct.ID, Status: models.RequestPending, CreatedAt: now}
	filed, err := fileJoinRequest(tx, &req, "account_id", acct.ID)
	if err != nil {
		return nil, err
	}
	if !filed {
		return &models.RegistrationResult{Outcome: models.RegistrationWaits, RequestID: req.ID}, nil
	}
	if err := writeAudit(tx, now, a, models.AuditRecord{Action: "registration.requested", SubjectType: "account", SubjectID: acct.AccountID,
		Details: map[string]any{"request_id": strconv.FormatInt(req.ID, 10), "email": p.Email}}); err != nil {
		return nil, err
	}
	if err := emitJoinRequest(ctx, tx, s.outbox, &req, p, "", acct.AccountID); err != nil {
		return nil, err
	}
	for _, to := range admins {
		if err := s.queue(ctx, tx, mailer.JoinRequested{Requester: p.Name + " <" + p.Email + ">", AccountID: acct.AccountID,
			ReviewURL: s.links.Licenses()}, to); err != nil {
			return nil, err
		}
	}
	return &models.RegistrationResult{Outcome: models.RegistrationWaits, RequestID: req.ID}, nil
}

func productName(tx *gorm.DB, productID int64) (string, error) {
	var p models.Product
	err := tx.Select("name").Take(&p, productID).Error
	return p.Name, err
}

// fileJoinRequest files req, a new pending join request, unless its user has one pending already
// where column (license_id or account_id) is id: then req becomes that one and filed is false.
func fileJoinRequest(tx *gorm.DB, req *models.JoinRequest, column string, id int64) (filed bool, err error) {
	var pending models.JoinRequest
	err = tx.Where("user_id = ? AND "+column+" = ? AND status = ?", req.UserID, id, models.RequestPending).Take(&pending).Error
	if err == nil {
		*req = pending
		return false, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return false, err
	}
	return true, tx.Create(req).Error
}

// Requests lists the pending join requests for a license: those for it, and those for its
// account. Errors: as access with the admin role.
func (s *Registrations) Requests(ctx context.Context, p *models.Principal, ln string) (_ []models.RequestView, err error) {
	defer wrapErr(&err, "list join requests")
	return adminList(ctx, s, p, ln, pendingRequests)
}

func pendingRequests(tx *gorm.DB, lic *models.License) ([]models.RequestView, error) {
	var rows []struct {
		Email         string
		Name          string
		LicenseNumber *string
		AcctNumber    *string
		models.JoinRequest
	}
	err := tx.Table("join_requests").
		Select("users.email, users.name, licenses.license_number, accounts.account_id AS acct_number, join_requests.*").
		Joins("JOIN users ON users.id = join_requests.user_id").
		Joins("LEFT JOIN licenses ON licenses.id = join_requests.license_id").
		Joins("LEFT JOIN accounts ON accounts.id = join_requests.account_id").
		Where("join_requests.status = ? AND (join_requests.license_id = ? OR join_requests.account_id = ?)", models.RequestPending, lic.ID, lic.AccountID).
		Order("join_requests.id").Scan(&rows).Error
	out := make([]models.RequestView, 0, len(rows))
	for _, r := range rows {
		v := models.RequestView{Request: r.JoinRequest, Email: r.Email, Name: r.Name}
		if r.LicenseNumber != nil {
			v.LicenseNumber = *r.LicenseNumber
		}
		if r.AcctNumber != nil {
			v.AccountID = *r.AcctNumber
		}
		out = append(out, v)
	}
	return out, err
}

// Decide approves (with roles) or rejects a pending join request through one of the licenses it
// concerns. Approving grants the requester the roles on that license (grantByEmail, as every
// grant by address); a request made by Account ID is closed everywhere. The requester is told
// the outcome.
// Errors: as access with the admin role, not_found, request_not_pending, validation_failed, last_admin.
func (s *Registrations) Decide(ctx context.Context, p *models.Principal, ln, requestID string, approve bool, roles []string, a models.Actor) (_ *models.RequestView, err error) {
	defer wrapErr(&err, "decide a join request")
	var out models.RequestView
	err = s.adminTx(ctx, p, ln, func(tx *gorm.DB, acc *licenseAccess) error {
		var v models.Validation
		if approve {
			if len(roles) == 0 {
				v.Add("roles", models.FieldRequired, "name the roles to grant: admin, support, license")
			}
			roles = normaliseRoles(&v, "roles", roles)
		}
		if err := v.Err(); err != nil {
			return err
		}
		id, err := strconv.ParseInt(requestID, 10, 64)
		if err != nil || id <= 0 {
			return models.Errorf(models.CodeNotFound, "there is no join request %q", models.Clip(requestID, 20))
		}
		if err := lockLicense(tx, acc.License.ID); err != nil {
			return err
		}
		var req models.JoinRequest
		err = tx.Where("id = ? AND (license_id = ? OR account_id = ?)", id, acc.License.ID, acc.License.AccountID).Take(&req).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return models.Errorf(models.CodeNotFound, "license %s has no join request %d", acc.License.LicenseNumber, id)
		}
		if err != nil {
			return err
		}
		if req.Status != models.RequestPending {
			return models.Errorf(models.CodeRequestNotPending, "this request was %s already", req.Status)
		}
		now := s.store.Clock.Now()
		var u models.User
		if err := tx.Take(&u, req.UserID).Error; err != nil {
			return err
		}
		status, action := models.RequestRejected, "registration.rejected"
		if approve {
			status, action = models.RequestApproved, "registration.approved"
			// Only a verified user can file a request, so this grants at once; it goes through
			// the one rule all the same (an unverified requester would be invited). A verified
			// user's invitations are accepted already: no lockAddress needed.
			details := map[string]any{"email": u.Email, "roles": roles, "request_id": strconv.FormatInt(req.ID, 10)}
			g, err := s.grantByEmail(ctx, tx, p, &acc.License, u.Email, roles, details, a, now)
			if err != nil {
				return err
			}
			if g.Changed {
				if err := emitMember(ctx, tx, s.outbox, now, &acc.License, u.Email, g.Member); err != nil {
					return err
				}
			}
		}
		upd := map[string]any{"status": status, "decided_at": now, "decided_license_id": acc.License.ID, "roles": joinRoles(roles)}
		if p.IsUser() {
			upd["decided_by"] = p.UserID
		}
		res := tx.Model(&models.JoinRequest{}).Where("id = ? AND status = ?", req.ID, models.RequestPending).Updates(upd)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return models.Errorf(models.CodeRequestNotPending, "this request was decided already")
		}
		if err := writeAudit(tx, now, a, models.AuditRecord{Action: action, SubjectType: "license", SubjectID: acc.License.LicenseNumber, LicenseID: acc.License.ID,
			Details: map[string]any{"request_id": strconv.FormatInt(req.ID, 10), "email": u.Email, "roles": roles}}); err != nil {
			return err
		}
		if err := tx.Take(&req, req.ID).Error; err != nil {
			return err
		}
		out = models.RequestView{Request: req, Email: u.Email, Name: u.Name}
		msg := mailer.RequestDecided{Name: u.Name, Approved: approve, Roles: strings.Join(roles, ", "), LicensesURL: s.links.Licenses()}
		if req.LicenseID != nil {
			out.LicenseNumber, msg.LicenseNumber = acc.License.LicenseNumber, acc.License.LicenseNumber
		} else {
			var acct models.Account
			if err := tx.Take(&acct, *req.AccountID).Error; err != nil {
				return err
			}
			out.AccountID, msg.AccountID = acct.AccountID, acct.AccountID
			if approve {
				msg.LicenseNumber = acc.License.LicenseNumber
			}
		}
		return s.queue(ctx, tx, msg, u.Email)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Withdraw lets the requester take back a pending join request. Someone else's request is
// not_found, so that request ids tell nothing. Errors: not_found, request_not_pending.
func (s *Registrations) Withdraw(ctx context.Context, p *models.Principal, requestID string, a models.Actor) (err error) {
	defer wrapErr(&err, "withdraw a join request")
	id, err := strconv.ParseInt(requestID, 10, 64)
	if err != nil || id <= 0 || !p.IsUser() {
		return models.Errorf(models.CodeNotFound, "there is no join request %q", models.Clip(requestID, 20))
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		var req models.JoinRequest
		err := tx.Where("id = ? AND user_id = ?", id, p.UserID).Take(&req).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return models.Errorf(models.CodeNotFound, "you have no join request %d", id)
		}
		if err != nil {
			return err
		}
		if req.Status != models.RequestPending {
			return models.Errorf(models.CodeRequestNotPending, "this request was %s already", req.Status)
		}
		now := s.store.Clock.Now()
		if err := tx.Model(&models.JoinRequest{}).Where("id = ?", id).Updates(map[string]any{"status": models.RequestWithdrawn, "decided_at": now}).Error; err != nil {
			return err
		}
		rec := models.AuditRecord{Action: "registration.withdrawn", SubjectType: "join_request", SubjectID: strconv.FormatInt(id, 10)}
		if req.LicenseID != nil {
			rec.LicenseID = *req.LicenseID
		}
		return writeAudit(tx, now, a, rec)
	})
}
