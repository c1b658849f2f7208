package store_test

// Token status lists on both dialects: every token of one grant version shares that grant's
// index and every license key has its own; a role change, a member's removal, a released key and
// a terminated contract set exactly the bits of what they revoke, in the change's transaction,
// and the list served from memory shows them at once (and on another replica within the change
// notices' bound); introspection refuses a token whose bit is set.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
	"github.com/entitled-dev/entitled/verify"
)

// statusDesk is a keyDesk (a license of two seats, its admin) with the token service, whose
// status-list service serves the lists.
type statusDesk struct {
	*keyDesk
	tokens    *dbstore.Tokens
	lists     *dbstore.StatusLists
	licenseID int64
	contract  string
}

func newStatusDesk(tb testing.TB, d dbstore.Dialect) *statusDesk {
	tb.Helper()
	k := newKeyDesk(tb, d)
	ring := statusRing(tb, k.store)
	tokens, err := dbstore.NewTokens(k.store, ring, models.TokensOptions{Issuer: baseURL, Audiences: []string{"downloads"}, RenewalWindowDays: 90})
	if err != nil {
		tb.Fatal(err)
	}
	var lic models.License
	if err := k.store.GormDB().Where("license_number = ?", k.ln).Take(&lic).Error; err != nil {
		tb.Fatal(err)
	}
	var c models.Contract
	if err := k.store.GormDB().Where("license_id = ?", lic.ID).Take(&c).Error; err != nil {
		tb.Fatal(err)
	}
	return &statusDesk{keyDesk: k, tokens: tokens, lists: tokens.StatusLists(), licenseID: lic.ID, contract: strconv.FormatInt(c.ID, 10)}
}

// statusRing is a key ring on the store (the keys newKeyDesk made, or new ones).
func statusRing(tb testing.TB, s *dbstore.Store) *dbstore.Keyring {
	tb.Helper()
	ring, err := dbstore.NewKeyring(s, models.KeyringOptions{Secret: keysSecret, MaxAge: 5 * time.Minute, TokenTTL: 15 * time.Minute, Refresh: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	if err := ring.Ensure(context.Background()); err != nil {
		tb.Fatalf("signing keys: %v", err)
	}
	return ring
}

// token issues an entitlement token to p and answers it with its status reference.
func (s *statusDesk) token(tb testing.TB, p *models.Principal) (*dbstore.IssuedToken, models.StatusRef) {
	tb.Helper()
	tok, err := s.tokens.Issue(context.Background(), p, s.ln, "downloads")
	if err != nil {
		tb.Fatalf("token for %s: %v", p.Email, err)
	}
	return tok, refOf(tb, tok.Claims.Status)
}

// refOf reads a status claim, failing the test when there is none or its uri is not a list of
// this server.
func refOf(tb testing.TB, c *verify.StatusClaim) models.StatusRef {
	tb.Helper()
	if c == nil {
		tb.Fatal("no status claim")
	}
	id, ok := strings.CutPrefix(c.StatusList.URI, baseURL+"/v1/status-lists/")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil {
		tb.Fatalf("status uri %q is not %s/v1/status-lists/<id>", c.StatusList.URI, baseURL)
	}
	return models.StatusRef{List: n, Idx: c.StatusList.Index}
}

// keyRef is the status reference in a license key's claims.
func keyRef(tb testing.TB, key *models.IssuedLicenseKey) models.StatusRef {
	tb.Helper()
	var claims verify.LicenseClaims
	if _, _, err := jwt.NewParser().ParseUnverified(key.Token, &claims); err != nil {
		tb.Fatal(err)
	}
	return refOf(tb, claims.Status)
}

// servedList is what GET /v1/status-lists/{id} would answer, decoded (its signature is the
// handlers' tests' to check).
type servedList struct {
	Subject    string `json:"sub"`
	IssuedAt   int64  `json:"iat"`
	ExpiresAt  int64  `json:"exp"`
	TTL        int64  `json:"ttl"`
	StatusList struct {
		Bits int    `json:"bits"`
		Lst  string `json:"lst"`
	} `json:"status_list"`
	jwt.RegisteredClaims
}

// revoked lists the indexes the served list has set, in order.
func (s *statusDesk) revoked(tb testing.TB, list int64) []int64 {
	tb.Helper()
	return servedRevoked(tb, s.lists, list)
}

func servedRevoked(tb testing.TB, lists *dbstore.StatusLists, list int64) []int64 {
	tb.Helper()
	sl, err := lists.Get(context.Background(), strconv.FormatInt(list, 10))
	if err != nil {
		tb.Fatalf("status list %d: %v", list, err)
	}
	var c servedList
	if _, _, err := jwt.NewParser().ParseUnverified(string(sl.JWT), &c); err != nil {
		tb.Fatal(err)
	}
	bits, err := models.DecodeStatusList(c.StatusList.Lst)
	if err != nil {
		tb.Fatal(err)
	}
	var out []int64
	for i := range int64(len(bits)) * 8 {
		if models.StatusBit(bits, i) {
			out = append(out, i)
		}
	}
	return out
}

// wantRevoked fails the test unless exactly refs are set, in the served lists and in the table.
func (s *statusDesk) wantRevoked(tb testing.TB, what string, refs ...models.StatusRef) {
	tb.Helper()
	want := map[int64][]int64{}
	for _, r := range refs {
		want[r.List] = append(want[r.List], r.Idx)
	}
	var lists []int64
	if err := s.store.GormDB().Table("status_lists").Order("id").Pluck("id", &lists).Error; err != nil {
		tb.Fatal(err)
	}
	for _, l := range lists {
		w := want[l]
		slices.Sort(w)
		if got := s.revoked(tb, l); !slices.Equal(got, w) {
			tb.Errorf("%s: list %d serves %v set, want %v", what, l, got, w)
		}
	}
	s.wantRows(tb, int64(len(refs)), what, "status_list_entries", "revoked")
}

// active is what introspection says of the token.
func (s *statusDesk) active(tb testing.TB, tok *dbstore.IssuedToken) bool {
	tb.Helper()
	in, err := s.tokens.Introspect(context.Background(), tok.Token)
	if err != nil {
		tb.Fatal(err)
	}
	return in.Active
}

// Every token of one grant version carries the same index of a list of this server, and a
// license key its own (kept by its re-issue); nothing is revoked yet.
func TestStatusClaimsOnTokensAndLicenseKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newStatusDesk(t, d)
		first, ref := s.token(t, s.admin)
		second, again := s.token(t, s.admin)
		if first.Claims.ID == second.Claims.ID || ref != again {
			t.Errorf("two tokens of one grant: indexes %+v and %+v, want the same", ref, again)
		}
		if ref.Idx < 0 || ref.Idx >= models.StatusListSize {
			t.Errorf("index %d is outside a list of 2^17", ref.Idx)
		}
		key := s.mustIssue(t, "MACHINE-AAAA-0001", shopVersion)
		kref := keyRef(t, key)
		if kref == ref {
			t.Errorf("the license key shares the grant's index %+v", ref)
		}
		if re := s.mustIssue(t, "MACHINE-AAAA-0001", shopVersion); re.Created || keyRef(t, re) != kref {
			t.Errorf("a re-issued key has index %+v, want its own %+v", keyRef(t, re), kref)
		}
		s.wantRevoked(t, "nothing changed")
		if !s.active(t, first) {
			t.Error("a token of the current grant is inactive")
		}
	})
}

// A role change sets the bit of the old grant only; the new grant version has a fresh index;
// the member's removal sets that one; the other member's grant is untouched; introspection
// refuses the tokens of revoked grants.
func TestStatusGrantChangesSetExactlyTheirBits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newStatusDesk(t, d)
		ctx := context.Background()
		bob := s.person(t, "bob@acme.example", "Bob", true)
		put := func(roles ...string) {
			t.Helper()
			if _, err := s.registrations.PutMember(ctx, s.admin, s.ln, bob.Email, roles, "", actorOf(s.admin)); err != nil {
				t.Fatalf("put bob %v: %v", roles, err)
			}
		}
		put(models.MemberLicense)
		adminTok, adminRef := s.token(t, s.admin)
		bobTok, bobRef := s.token(t, bob)

		put(models.MemberLicense, models.MemberSupport)
		s.wantRevoked(t, "after bob's roles changed", bobRef)
		bobTok2, bobRef2 := s.token(t, bob)
		if bobRef2 == bobRef {
			t.Errorf("bob's new grant version kept the old index %+v", bobRef)
		}
		if s.active(t, bobTok) || !s.active(t, bobTok2) || !s.active(t, adminTok) {
			t.Errorf("introspection after the role change: old %v, new %v, admin's %v; want false, true, true",
				s.active(t, bobTok), s.active(t, bobTok2), s.active(t, adminTok))
		}

		if err := s.registrations.RemoveMember(ctx, s.admin, s.ln, bob.Email, actorOf(s.admin)); err != nil {
			t.Fatal(err)
		}
		s.wantRevoked(t, "after bob's removal", bobRef, bobRef2)
		if m := s.member(t, s.licenseID, bob); m.StatusListID != nil || m.StatusIdx != nil {
			t.Errorf("a removed member keeps an index: %v %v", *m.StatusListID, *m.StatusIdx)
		}
		if s.active(t, bobTok2) || !s.active(t, adminTok) {
			t.Error("introspection after the removal: bob's token active, or the admin's not")
		}
		_ = adminRef
	})
}

// Releasing a key sets its bit only; terminating the contract sets the bits of every current
// grant and every key of the license; a grant made afterwards is revoked from the start.
func TestStatusReleasedKeyAndTerminatedContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newStatusDesk(t, d)
		ctx := context.Background()
		adminTok, adminRef := s.token(t, s.admin)
		k1, k2 := s.mustIssue(t, "MACHINE-AAAA-0001", shopVersion), s.mustIssue(t, "MACHINE-BBBB-0002", shopVersion)
		r1, r2 := keyRef(t, k1), keyRef(t, k2)

		if err := s.keys.Release(ctx, s.admin, s.ln, strconv.FormatInt(k1.Key.ID, 10), "machine retired", actorOf(s.admin)); err != nil {
			t.Fatal(err)
		}
		s.wantRevoked(t, "after one key was released", r1)
		if !s.active(t, adminTok) {
			t.Error("releasing a key made the admin's token inactive")
		}

		if _, err := s.contracts.Terminate(ctx, s.contract, "customer went bankrupt", renewalStaff); err != nil {
			t.Fatal(err)
		}
		s.wantRevoked(t, "after the contract was terminated", r1, r2, adminRef)
		if s.active(t, adminTok) {
			t.Error("a token of a terminated license is active")
		}

		carol := s.person(t, "carol@acme.example", "Carol", true)
		if _, err := s.registrations.PutMember(ctx, s.admin, s.ln, carol.Email, []string{models.MemberSupport}, "", actorOf(s.admin)); err != nil {
			t.Fatal(err)
		}
		_, carolRef := s.token(t, carol)
		s.wantRevoked(t, "after a grant on the terminated license", r1, r2, adminRef, carolRef)
	})
}

// Indexes come from a list's free positions at random, not in issue order; a full list starts
// a new one, and the indexes of both stay distinct.
func TestStatusIndexesAreRandomAndAFullListStartsANewOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := storetest.Open(t, d, nil)
		ctx := context.Background()
		s.SetStatusListSize(64)
		var first []int64
		for range 16 {
			ref, err := s.AllocateStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			first = append(first, ref.Idx)
		}
		if slices.IsSorted(first) {
			t.Errorf("16 indexes in issue order: %v", first)
		}

		s.SetStatusListSize(8)
		seen := map[models.StatusRef]bool{}
		lists := map[int64]int{}
		for range 20 {
			ref, err := s.AllocateStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if seen[ref] {
				t.Fatalf("index %+v given twice", ref)
			}
			seen[ref] = true
			lists[ref.List]++
		}
		// The size is that of new lists: list 1 keeps its 64 and takes these while it has room.
		if lists[1] != 20 {
			t.Fatalf("allocations per list %v, want all 20 in list 1 (48 free)", lists)
		}
		for range 28 { // fill list 1
			if _, err := s.AllocateStatus(ctx); err != nil {
				t.Fatal(err)
			}
		}
		lists = map[int64]int{}
		for range 10 {
			ref, err := s.AllocateStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Idx < 0 || ref.Idx >= 8 {
				t.Errorf("index %d outside a list of 8", ref.Idx)
			}
			lists[ref.List]++
		}
		if lists[2] != 8 || lists[3] != 2 {
			t.Errorf("after list 1 filled: allocations per list %v, want 8 in list 2 and 2 in list 3", lists)
		}
	})
}

// A bit set on replica B is served by replica A within the change notices' bound (PostgreSQL's
// NOTIFY, SQLite's data_version), without A re-reading the list on every request.
func TestStatusListAnotherReplicasFlipIsServed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		a, b, _ := replicaPair(t, d)
		ctx := context.Background()
		lists := dbstore.NewStatusLists(a, statusRing(t, a), baseURL, 0)
		ref, err := b.AllocateStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := servedRevoked(t, lists, ref.List); len(got) != 0 {
			t.Fatalf("fresh list serves %v set", got)
		}
		if err := b.RevokeStatus(ctx, ref); err != nil {
			t.Fatal(err)
		}
		took := waitFor(t, "replica A to serve B's flip", func() bool {
			return slices.Equal(servedRevoked(t, lists, ref.List), []int64{ref.Idx})
		})
		t.Logf("%s: replica A served B's flip after %v", d, took)
	})
}

// Unknown lists are not_found.
func TestStatusListUnknownIsNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newStatusDesk(t, d)
		for _, id := range []string{"999", "0", "-1", "abc", "01"} {
			_, err := s.lists.Get(context.Background(), id)
			wantCode(t, err, models.CodeNotFound, "status list %q", id)
		}
	})
}

// The figure for the report: a list of 2^17 indexes with 1% set at random, as served.
func TestStatusListWireSize(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newStatusDesk(t, d)
		ctx := context.Background()
		ref, err := s.store.AllocateStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rnd := rand.New(rand.NewPCG(20, 26))
		set := map[int64]bool{}
		for len(set) < models.StatusListSize/100-1 {
			set[rnd.Int64N(models.StatusListSize)] = true
		}
		set[ref.Idx] = true // the allocated index is one of them, set by the service below
		var values []string
		for i := range set {
			if i != ref.Idx {
				values = append(values, fmt.Sprintf("(%d, %d, TRUE, '2026-03-02 09:00:00')", ref.List, i))
			}
		}
		if err := s.store.GormDB().Exec("INSERT INTO status_list_entries (list_id, idx, revoked, created_at) VALUES " + strings.Join(values, ", ")).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.store.RevokeStatus(ctx, ref); err != nil { // through the service: it moves the generation
			t.Fatal(err)
		}
		got := s.revoked(t, ref.List)
		if len(got) != len(set) {
			t.Errorf("%d bits served, want %d", len(got), len(set))
		}
		sl, err := s.lists.Get(ctx, strconv.FormatInt(ref.List, 10))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: a list of %d indexes with %d set at random is %d bytes on the wire (the JWT)", d, models.StatusListSize, len(got), len(sl.JWT))
		if len(sl.JWT) > 4096 {
			t.Errorf("the list is %d bytes, want it under 4 KiB", len(sl.JWT))
		}
	})
}

// A grant made before status lists (no index yet) gets one at its first token since, which the
// next tokens share.
func TestStatusGrantFromBeforeStatusListsGetsAnIndexAtItsFirstToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newStatusDesk(t, d)
		if err := s.store.GormDB().Exec("UPDATE members SET status_list_id = NULL, status_idx = NULL").Error; err != nil {
			t.Fatal(err)
		}
		tok, ref := s.token(t, s.admin)
		if _, again := s.token(t, s.admin); again != ref {
			t.Errorf("the next token has index %+v, want the one the first took, %+v", again, ref)
		}
		if m := s.member(t, s.licenseID, s.admin); m.StatusListID == nil || *m.StatusListID != ref.List || *m.StatusIdx != ref.Idx {
			t.Errorf("the member's row does not hold the index %+v", ref)
		}
		if !s.active(t, tok) {
			t.Error("the token is inactive")
		}
	})
}

// A served list is signed again once it is half its 24 hours old, not before.
func TestStatusListIsSignedAgainAtHalfItsLife(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newStatusDesk(t, d)
		_, ref := s.token(t, s.admin)
		get := func() (string, int64) {
			t.Helper()
			sl, err := s.lists.Get(context.Background(), strconv.FormatInt(ref.List, 10))
			if err != nil {
				t.Fatal(err)
			}
			var c servedList
			if _, _, err := jwt.NewParser().ParseUnverified(string(sl.JWT), &c); err != nil {
				t.Fatal(err)
			}
			return sl.ETag, c.IssuedAt
		}
		etag, iat := get()
		start := s.clock.Now()
		s.clock.Set(start.Add(models.StatusListResign - time.Second))
		if e, _ := get(); e != etag {
			t.Error("signed again before half its life")
		}
		s.clock.Set(start.Add(models.StatusListResign))
		if e, at := get(); e == etag || at != s.clock.Now().Unix() || at == iat {
			t.Errorf("at half its life: ETag %s (was %s), iat %d; want a new list issued now", e, etag, at)
		}
	})
}

// Allocations at once (PostgreSQL: truly concurrent transactions) never give one index twice,
// and lists that fill meanwhile are followed by new ones.
func TestStatusConcurrentAllocationsAreDistinct(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := storetest.Open(t, d, nil)
		s.SetStatusListSize(16)
		const workers, each = 8, 10
		refs := make(chan models.StatusRef, workers*each)
		errs := make(chan error, workers)
		for range workers {
			go func() {
				for range each {
					ref, err := s.AllocateStatus(context.Background())
					if err != nil {
						errs <- err
						return
					}
					refs <- ref
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		close(refs)
		seen := map[models.StatusRef]bool{}
		for r := range refs {
			if seen[r] || r.Idx < 0 || r.Idx >= 16 {
				t.Errorf("index %+v given twice or out of range", r)
			}
			seen[r] = true
		}
		if len(seen) != workers*each {
			t.Errorf("%d distinct indexes, want %d", len(seen), workers*each)
		}
	})
}

// BenchmarkStatusListGet is the store's part of serving a list: the generation check, the
// signing key's snapshot and the cached JWT (nothing changes meanwhile).
//
//	go test -run x -bench StatusListGet ./models/store/
func BenchmarkStatusListGet(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			s := newStatusDesk(b, d)
			_, ref := s.token(b, s.admin)
			id := strconv.FormatInt(ref.List, 10)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.lists.Get(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
