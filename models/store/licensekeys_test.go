package store_test

// License keys on both dialects: a machine (fingerprint) takes one seat of its license, whatever
// major versions it has keys for; the same machine and major version again answer the same key;
// a new machine past the license's quantity is seats_exhausted; releasing a machine's last key
// frees its seat.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

const keysSecret = "the-license-key-spec-secret-of-32-characters-or-more"

// keyDesk is a shop with the license-key service, one license of two seats whose first
// registrant (the admin, with the license role) is admin.
type keyDesk struct {
	*shop
	keys  *dbstore.LicenseKeys
	ln    string
	admin *models.Principal
}

func newKeyDesk(tb testing.TB, d dbstore.Dialect) *keyDesk {
	tb.Helper()
	s := newShop(tb, d)
	ring, err := dbstore.NewKeyring(s.store, models.KeyringOptions{Secret: keysSecret, MaxAge: 5 * time.Minute, TokenTTL: 15 * time.Minute, Refresh: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	if err := ring.Ensure(context.Background()); err != nil {
		tb.Fatalf("signing keys: %v", err)
	}
	ln := s.place(tb, newServerOrder("PO-K1", 2)).Licenses[0].License.LicenseNumber
	admin := s.person(tb, "alice@acme.example", "Alice Admin", true)
	if res, err := s.register(admin, ln); err != nil || res.Outcome != models.Registered {
		tb.Fatalf("register: %+v, %v", res, err)
	}
	return &keyDesk{shop: s, keys: dbstore.NewLicenseKeys(s.store, ring, baseURL, 90), ln: ln, admin: admin}
}

// issue asks for a key for a machine and a version.
func (k *keyDesk) issue(fingerprint, version string) (*models.IssuedLicenseKey, error) {
	return k.keys.Issue(context.Background(), k.admin, k.ln, models.LicenseKeyInput{Fingerprint: fingerprint,
		Hostname: "host-" + strings.ToLower(fingerprint[len(fingerprint)-4:]) + ".acme.example", Version: version}, actorOf(k.admin))
}

// mustIssue asks for a key and fails the test if none is given.
func (k *keyDesk) mustIssue(tb testing.TB, fingerprint, version string) *models.IssuedLicenseKey {
	tb.Helper()
	out, err := k.issue(fingerprint, version)
	if err != nil {
		tb.Fatalf("issue %s %s: %v", fingerprint, version, err)
	}
	return out
}

// unreleased counts the license's keys that are not released.
func (k *keyDesk) unreleased(tb testing.TB) int64 {
	tb.Helper()
	return k.rows(tb, "license_keys", "released_at IS NULL")
}

// A new machine gets a new key (Created: the API's 201), stored and signed; the same machine and
// major version again answer that key — same id, freshly signed, Created false (200) — and no
// new row; the same machine on a new major version gets a second key on the same seat.
func TestLicenseKeyIssueNewThenSameFingerprintAndMajorAnswersSameKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newKeyDesk(t, d)
		first := k.mustIssue(t, "MACHINE-AAAA-0001", shopVersion)
		if !first.Created || first.Key.ID == 0 || first.Key.VerMajor != 4 || first.Key.Version != shopVersion {
			t.Errorf("first key = created %v id %d major %d version %s, want a new key for 4 / %s", first.Created, first.Key.ID, first.Key.VerMajor, first.Key.Version, shopVersion)
		}
		if parts := strings.Split(first.Token, "."); len(parts) != 3 || parts[2] == "" {
			t.Errorf("token %q is not a signed compact JWS", first.Token)
		}
		if got := k.rows(t, "license_keys", "id = ? AND fingerprint = ? AND released_at IS NULL", first.Key.ID, "MACHINE-AAAA-0001"); got != 1 {
			t.Errorf("the new key is not stored")
		}

		// A later patch release of the same major version: the same key.
		if _, err := k.catalogue.AddVersion(context.Background(), shopSKU, models.VersionInput{Version: "4.3.1", ReleasedOn: shopDay.AddDays(-1).String()}, orderSystem); err != nil {
			t.Fatal(err)
		}
		k.on(shopDay.AddDays(1))
		again := k.mustIssue(t, "MACHINE-AAAA-0001", "4.3.1")
		if again.Created || again.Key.ID != first.Key.ID || again.Key.Version != "4.3.1" || again.Key.ReissuedAt == nil {
			t.Errorf("same machine and major = created %v id %d version %s reissued %v; want key %d again, not created, now 4.3.1, reissued",
				again.Created, again.Key.ID, again.Key.Version, again.Key.ReissuedAt, first.Key.ID)
		}
		if again.Token == "" || again.Token == first.Token {
			t.Errorf("the answered key is not freshly signed")
		}
		if got := k.unreleased(t); got != 1 {
			t.Errorf("keys after asking twice = %d, want 1", got)
		}
		if got := k.rows(t, "audit_log", "action = ?", "license_key.reissued"); got != 1 {
			t.Errorf("license_key.reissued audit rows = %d, want 1", got)
		}

		// A new major version on the same machine: a second key, on the seat the machine has.
		if _, err := k.catalogue.AddVersion(context.Background(), shopSKU, models.VersionInput{Version: "5.0.0", ReleasedOn: shopDay.String()}, orderSystem); err != nil {
			t.Fatal(err)
		}
		v5 := k.mustIssue(t, "MACHINE-AAAA-0001", "5.0.0")
		if !v5.Created || v5.Key.ID == first.Key.ID || v5.Key.VerMajor != 5 {
			t.Errorf("new major = created %v id %d major %d, want a new key for major 5", v5.Created, v5.Key.ID, v5.Key.VerMajor)
		}
		// Both seats are still free for one more machine (quantity 2, one machine).
		k.mustIssue(t, "MACHINE-BBBB-0002", shopVersion)
	})
}

// Seats are machines: with every seat taken a new machine is seats_exhausted and gets no key;
// releasing one of a machine's keys keeps its seat, releasing its last key frees the seat (said
// in the audit row) for the next machine.
func TestLicenseKeySeatsExhaustedUntilReleaseFreesSeat(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newKeyDesk(t, d)
		ctx := context.Background()
		if _, err := k.catalogue.AddVersion(ctx, shopSKU, models.VersionInput{Version: "5.0.0", ReleasedOn: shopDay.String()}, orderSystem); err != nil {
			t.Fatal(err)
		}
		a4 := k.mustIssue(t, "MACHINE-AAAA-0001", shopVersion)
		a5 := k.mustIssue(t, "MACHINE-AAAA-0001", "5.0.0")
		b4 := k.mustIssue(t, "MACHINE-BBBB-0002", shopVersion)

		_, err := k.issue("MACHINE-CCCC-0003", shopVersion)
		if code := dbstore.ErrorCode(err); code != models.CodeSeatsExhausted {
			t.Fatalf("a third machine on two seats: %v (code %q), want %s", err, code, models.CodeSeatsExhausted)
		}
		if got := k.unreleased(t); got != 3 {
			t.Errorf("keys after the refusal = %d, want 3", got)
		}

		// Releasing one of machine A's two keys leaves A its seat.
		if err := k.keys.Release(ctx, k.admin, k.ln, itoa64(a4.Key.ID), "reinstalled", actorOf(k.admin)); err != nil {
			t.Fatalf("release: %v", err)
		}
		if _, err := k.issue("MACHINE-CCCC-0003", shopVersion); dbstore.ErrorCode(err) != models.CodeSeatsExhausted {
			t.Errorf("a third machine after releasing one of A's two keys: %v, want %s", err, models.CodeSeatsExhausted)
		}
		if got := k.rows(t, "audit_log", "action = ? AND subject_id = ? AND details LIKE ?", "license_key.released", itoa64(a4.Key.ID), `%"seat_freed":false%`); got != 1 {
			t.Errorf("the release of one of A's keys is not audited with seat_freed false")
		}

		// Releasing B's only key frees B's seat.
		if err := k.keys.Release(ctx, k.admin, k.ln, itoa64(b4.Key.ID), "machine retired", actorOf(k.admin)); err != nil {
			t.Fatalf("release: %v", err)
		}
		if got := k.rows(t, "audit_log", "action = ? AND subject_id = ? AND details LIKE ?", "license_key.released", itoa64(b4.Key.ID), `%"seat_freed":true%`); got != 1 {
			t.Errorf("the release of B's last key is not audited with seat_freed true")
		}
		c := k.mustIssue(t, "MACHINE-CCCC-0003", shopVersion)
		if !c.Created {
			t.Errorf("the third machine's key after a seat was freed is not new")
		}
		if got := k.unreleased(t); got != 2 {
			t.Errorf("unreleased keys = %d, want 2 (A's 5.x and C's)", got)
		}

		// A released key is gone: releasing it again is not_found, and asking for it again makes a new key.
		if err := k.keys.Release(ctx, k.admin, k.ln, itoa64(b4.Key.ID), "again", actorOf(k.admin)); dbstore.ErrorCode(err) != models.CodeNotFound {
			t.Errorf("releasing a released key: %v, want %s", err, models.CodeNotFound)
		}
		if again := k.mustIssue(t, "MACHINE-AAAA-0001", shopVersion); !again.Created || again.Key.ID == a4.Key.ID || again.Key.ID == a5.Key.ID {
			t.Errorf("machine A on 4.x after releasing its 4.x key = created %v id %d, want a new key", again.Created, again.Key.ID)
		}
	})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// Seats on both dialects: SeatsUsed counts the machines of a license past one page of keys (the
// portal used to count over the first 100 keys only), a machine with keys for two major versions
// once, and neither released keys nor another license's keys.

func TestSeatsUsedPastOnePage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		clock := models.NewFixedClock(deskDay.Time().Add(9 * time.Hour))
		s := storetest.Open(t, d, clock)
		seeded := storetest.SeedContracts(t, s, 2, func(int) storetest.Contract {
			return storetest.Contract{StartsOn: day(-10), EndsOn: day(300)}
		})
		lic, other := seeded[0], seeded[1]

		const machines = 150 // more than the portal's page of 100 keys
		now := clock.Now().UTC()
		var keys []models.LicenseKey
		for i := range machines {
			k := models.LicenseKey{LicenseID: lic.LicenseID, Fingerprint: fmt.Sprintf("machine-%04d", i), Hostname: fmt.Sprintf("h%d.example.test", i),
				Version: "1.0", VerMajor: 1, IssuedAt: now}
			keys = append(keys, k)
			if i%10 == 0 { // the same machine with a key for the next major version: still one seat
				k.Version, k.VerMajor = "2.0", 2
				keys = append(keys, k)
			}
		}
		released := now
		// Released keys hold no seat; another license's keys are not this one's.
		keys = append(keys,
			models.LicenseKey{LicenseID: lic.LicenseID, Fingerprint: "released-machine", Hostname: "gone.example.test", Version: "1.0", VerMajor: 1, IssuedAt: now, ReleasedAt: &released},
			models.LicenseKey{LicenseID: other.LicenseID, Fingerprint: "other-machine", Hostname: "other.example.test", Version: "1.0", VerMajor: 1, IssuedAt: now})
		if err := s.GormDB().WithContext(ctx).CreateInBatches(keys, 50).Error; err != nil {
			t.Fatalf("insert keys: %v", err)
		}
		if len(keys) <= 100 {
			t.Fatalf("only %d keys: the test needs more than one page", len(keys))
		}

		lk := dbstore.NewLicenseKeys(s, nil, baseURL, 90)
		staff := &models.Principal{Kind: models.PrincipalUser, UserID: 1, EmailVerified: true, StaffRoles: []string{models.RoleSupport}}
		got, err := lk.SeatsUsed(ctx, staff, lic.LicenseNumber)
		if err != nil {
			t.Fatalf("SeatsUsed: %v", err)
		}
		if got != machines {
			t.Errorf("SeatsUsed = %d, want %d", got, machines)
		}
		if got, err := lk.SeatsUsed(ctx, staff, other.LicenseNumber); err != nil || got != 1 {
			t.Errorf("other license: SeatsUsed = %d, %v; want 1", got, err)
		}

		// The same access as the key list: a stranger learns nothing.
		stranger := &models.Principal{Kind: models.PrincipalUser, UserID: 999999, EmailVerified: true}
		if _, err := lk.SeatsUsed(ctx, stranger, lic.LicenseNumber); dbstore.ErrorCode(err) != models.CodeNotAMember {
			t.Errorf("stranger: err = %v, want %s", err, models.CodeNotAMember)
		}
	})
}
