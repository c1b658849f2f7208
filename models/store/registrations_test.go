package store_test

// Registrations on both dialects: the first registrant of a license becomes its admin (with
// support and license), later registrants file a join request its admins are told of, an unknown
// License Number is license_not_found and counts as a failed lookup, and only a verified address
// may register.

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// registrantIP is where registrations come from in these tests.
const registrantIP = "198.51.100.7"

// person makes a customer user straight in the database and returns them as a principal.
func (s *shop) person(tb testing.TB, email, name string, verified bool) *models.Principal {
	tb.Helper()
	now := time.Now().UTC()
	var verifiedAt any
	if verified {
		verifiedAt = now
	}
	var id int64
	if err := s.store.GormDB().Raw("INSERT INTO users (email, name, password_hash, email_verified_at, staff_roles, created_at, updated_at) VALUES (?, ?, 'x', ?, '', ?, ?) RETURNING id",
		email, name, verifiedAt, now, now).Scan(&id).Error; err != nil {
		tb.Fatal(err)
	}
	return &models.Principal{Kind: models.PrincipalUser, UserID: id, Email: email, Name: name, EmailVerified: verified}
}

func actorOf(p *models.Principal) models.Actor {
	return models.Actor{Kind: models.ActorUser, ID: p.UserID, Email: p.Email, IP: registrantIP, RequestID: "spec"}
}

// register registers a License Number for p.
func (s *shop) register(p *models.Principal, ln string) (*models.RegistrationResult, error) {
	return s.registrations.Register(context.Background(), p, models.RegistrationInput{LicenseNumber: ln}, actorOf(p))
}

// registerRefused registers p and stops the test unless the registration is refused with the code;
// what says who registered.
func (s *shop) registerRefused(tb testing.TB, p *models.Principal, ln, code, what string) {
	tb.Helper()
	_, err := s.register(p, ln)
	if got := dbstore.ErrorCode(err); got != code {
		tb.Fatalf("%s: %v (code %q), want %s", what, err, got, code)
	}
}

// member reads p's membership of a license; nil when there is none.
func (s *shop) member(tb testing.TB, licenseID int64, p *models.Principal) *models.Member {
	tb.Helper()
	var ms []models.Member
	if err := s.store.GormDB().Where("license_id = ? AND user_id = ?", licenseID, p.UserID).Find(&ms).Error; err != nil {
		tb.Fatal(err)
	}
	if len(ms) == 0 {
		return nil
	}
	return &ms[0]
}

// The first verified user to register a License Number becomes the license's admin with the
// support and license roles, claims it, and the order's primary contact is told who did.
func TestRegistrationFirstRegistrantBecomesAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		lic := s.place(t, newServerOrder("PO-R1", 3)).Licenses[0].License
		alice := s.person(t, "alice@acme.example", "Alice Admin", true)

		res, err := s.register(alice, lic.LicenseNumber)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		wantRoles := []string{models.MemberAdmin, models.MemberSupport, models.MemberLicense}
		if res.Outcome != models.Registered || res.LicenseNumber != lic.LicenseNumber || !slices.Equal(res.Roles, wantRoles) {
			t.Errorf("result = %+v, want registered %s with roles %v", res, lic.LicenseNumber, wantRoles)
		}
		m := s.member(t, lic.ID, alice)
		if m == nil || !m.RoleAdmin || !m.RoleSupport || !m.RoleLicense {
			t.Errorf("membership = %+v, want admin, support and license", m)
		}
		s.wantRows(t, 1, "the first registrant's claim of the license", "licenses", "id = ? AND claimed_by = ?", lic.ID, alice.UserID)
		s.wantRows(t, 1, "registration.claimed audit rows", "audit_log", "action = ? AND subject_id = ?", "registration.claimed", lic.LicenseNumber)
		notices := s.letters(t, "claim_notice")
		if len(notices) != 1 || !slices.Equal(notices[0].To, []string{"pat@acme.example"}) {
			t.Errorf("claim notices = %+v, want one to the order's contact pat@acme.example", notices)
		}

		// Registering again changes nothing.
		again, err := s.register(alice, lic.LicenseNumber)
		if err != nil || again.Outcome != models.AlreadyMember {
			t.Errorf("registering again = %+v, %v; want %s", again, err, models.AlreadyMember)
		}
	})
}

// A second registrant of a license that has an admin files a pending join request (once, however
// often they try), gets no role, and the admin gets a letter to review it.
func TestRegistrationSecondRegistrantFilesJoinRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		lic := s.place(t, newServerOrder("PO-R2", 3)).Licenses[0].License
		alice := s.person(t, "alice@acme.example", "Alice Admin", true)
		bob := s.person(t, "bob@acme.example", "Bob Second", true)
		if _, err := s.register(alice, lic.LicenseNumber); err != nil {
			t.Fatal(err)
		}

		res, err := s.register(bob, lic.LicenseNumber)
		if err != nil {
			t.Fatalf("second registrant: %v", err)
		}
		if res.Outcome != models.RegistrationWaits || res.RequestID == 0 || len(res.Roles) != 0 {
			t.Errorf("second registrant result = %+v, want pending with a request id and no roles", res)
		}
		if m := s.member(t, lic.ID, bob); m != nil {
			t.Errorf("second registrant became a member: %+v", m)
		}
		if got := s.rows(t, "join_requests", "id = ? AND user_id = ? AND license_id = ? AND status = ?", res.RequestID, bob.UserID, lic.ID, models.RequestPending); got != 1 {
			t.Errorf("pending join request %d of the second registrant not stored", res.RequestID)
		}
		s.wantRows(t, 1, "the first registrant's claim of the license, after a second registrant", "licenses", "id = ? AND claimed_by = ?", lic.ID, alice.UserID)
		asks := s.letters(t, "join_requested")
		if len(asks) != 1 || !slices.Equal(asks[0].To, []string{"alice@acme.example"}) {
			t.Errorf("join_requested letters = %+v, want one to the admin alice@acme.example", asks)
		}

		again, err := s.register(bob, lic.LicenseNumber)
		if err != nil || again.Outcome != models.RegistrationWaits || again.RequestID != res.RequestID {
			t.Errorf("second registrant again = %+v, %v; want the same pending request %d", again, err, res.RequestID)
		}
		s.wantRows(t, 1, "join requests of the second registrant", "join_requests", "user_id = ?", bob.UserID)
	})
}

// A well-formed License Number no license has is license_not_found, and counts as one failed
// lookup for the user and for the address; a mistyped one (bad check character) is
// invalid_license_number and counts for nothing.
func TestRegistrationUnknownLicenseNumberIsNotFoundAndCountsAsFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		lic := s.place(t, newServerOrder("PO-R3", 1)).Licenses[0].License
		carol := s.person(t, "carol@acme.example", "Carol Guess", true)
		unknown := dbstore.NewLicenseNumber()
		for unknown == lic.LicenseNumber {
			unknown = dbstore.NewLicenseNumber()
		}

		s.registerRefused(t, carol, unknown, models.CodeLicenseNotFound, "unknown License Number")
		s.wantRows(t, 1, "failures counted for the user", "auth_failures", "scope = ? AND key = ?", models.LookupPerUser.Scope, strconv.FormatInt(carol.UserID, 10))
		s.wantRows(t, 1, "failures counted for the address", "auth_failures", "scope = ? AND key = ?", models.LookupPerAddress.Scope, registrantIP)
		s.wantRows(t, 0, "members after a failed lookup", "members", "")
		s.wantRows(t, 0, "join requests after a failed lookup", "join_requests", "")

		typo := []byte(lic.LicenseNumber)
		last := len(typo) - 1
		if typo[last] == '0' {
			typo[last] = '1'
		} else {
			typo[last] = '0'
		}
		if _, err := s.register(carol, string(typo)); dbstore.ErrorCode(err) == models.CodeLicenseNotFound || err == nil {
			t.Errorf("a mistyped License Number %s: %v, want it refused before any lookup", typo, err)
		}
		s.wantRows(t, 2, "failures after a typo (still one per scope)", "auth_failures", "")
	})
}

// A user whose address is not verified cannot register: email_unverified, and the license stays
// unclaimed for whoever registers it next.
func TestRegistrationUnverifiedPrincipalIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		lic := s.place(t, newServerOrder("PO-R4", 1)).Licenses[0].License
		dan := s.person(t, "dan@acme.example", "Dan Unverified", false)

		s.registerRefused(t, dan, lic.LicenseNumber, models.CodeEmailUnverified, "unverified registrant")
		s.wantRows(t, 1, "the license unclaimed after an unverified registrant", "licenses", "id = ? AND claimed_by IS NULL", lic.ID)
		s.wantRows(t, 0, "members after an unverified registrant", "members", "")
		if got := s.letters(t, "claim_notice"); len(got) != 0 {
			t.Errorf("claim notices = %d, want 0", len(got))
		}

		erin := s.person(t, "erin@acme.example", "Erin Verified", true)
		if res, err := s.register(erin, lic.LicenseNumber); err != nil || res.Outcome != models.Registered {
			t.Errorf("the next verified registrant = %+v, %v; want registered", res, err)
		}
	})
}
