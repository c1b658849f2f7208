package models

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// The draft's example list (draft-ietf-oauth-status-list, "Status List" with bits 1): indexes
// 0, 3, 4, 5, 7, 8, 9, 13 and 15 of 16 are set, which is bytes 0xB9 0xA3 in the draft's bit
// order (bit i % 8, least significant first, of byte i / 8), and its lst.
var (
	draftRevoked = []int64{0, 3, 4, 5, 7, 8, 9, 13, 15}
	draftBytes   = []byte{0xB9, 0xA3}
	draftLst     = "eNrbuRgAAhcBXQ"
)

func TestStatusBitsFollowTheDraftsBitOrder(t *testing.T) {
	b := StatusBits(16, draftRevoked)
	if !bytes.Equal(b, draftBytes) {
		t.Fatalf("StatusBits = % X, want % X", b, draftBytes)
	}
	for i := range int64(16) {
		if got, want := StatusBit(b, i), slices.Contains(draftRevoked, i); got != want {
			t.Errorf("StatusBit(%d) = %v, want %v", i, got, want)
		}
	}
	if StatusBit(b, 16) || StatusBit(b, -1) {
		t.Error("an index past the array reads as revoked")
	}
	if got := StatusBits(10, []int64{9, 10, -1}); !bytes.Equal(got, []byte{0, 0x02}) {
		t.Errorf("StatusBits(10, 9 and out-of-range) = % X, want 00 02", got)
	}
}

// lst is ZLIB (RFC 1950) and base64url without padding: the draft's example decodes to its
// bytes, and what EncodeStatusList makes decodes back (Go's deflate ends with an empty block, so
// the string differs from the draft's while the bytes are the same).
func TestStatusListLstIsZlibBase64url(t *testing.T) {
	got, err := DecodeStatusList(draftLst)
	if err != nil || !bytes.Equal(got, draftBytes) {
		t.Fatalf("DecodeStatusList(draft) = % X, %v; want % X", got, err, draftBytes)
	}
	lst := EncodeStatusList(draftBytes)
	if back, err := DecodeStatusList(lst); err != nil || !bytes.Equal(back, draftBytes) {
		t.Errorf("EncodeStatusList(draft bytes) = %q, which decodes to % X, %v", lst, back, err)
	}
	big := StatusBits(StatusListSize, []int64{0, 77, StatusListSize - 1})
	back, err := DecodeStatusList(EncodeStatusList(big))
	if err != nil || !bytes.Equal(back, big) {
		t.Errorf("a 2^17 list does not survive encoding: %v", err)
	}
	if _, err := DecodeStatusList("eNrbuRgAAhcBXQ=="); err == nil {
		t.Error("padded base64 accepted")
	}
	if _, err := DecodeStatusList("bm90IHpsaWI"); err == nil {
		t.Error("bytes that are not ZLIB accepted")
	}
}

// A free index is drawn from the free positions only, each of them about as often; a full list
// has none.
func TestPickFreeStatusIndexDrawsUniformlyFromFreePositions(t *testing.T) {
	src := rand.NewPCG(1, 2)
	taken := []int64{0, 1, 2, 4, 6, 7}
	counts := map[int64]int{}
	const draws = 4000
	for range draws {
		i, ok := PickFreeStatusIndex(src, 8, taken)
		if !ok {
			t.Fatal("no free index in a list with two free positions")
		}
		counts[i]++
	}
	if len(counts) != 2 || counts[3] == 0 || counts[5] == 0 {
		t.Fatalf("drawn %v, want only the free positions 3 and 5", counts)
	}
	if c := counts[3]; c < draws/2-200 || c > draws/2+200 {
		t.Errorf("position 3 drawn %d times of %d, want about half", c, draws)
	}
	if _, ok := PickFreeStatusIndex(src, 3, []int64{2, 0, 1}); ok {
		t.Error("a full list gave an index")
	}
	for range 100 {
		if i := RandomStatusIndex(src, 5); i < 0 || i >= 5 {
			t.Fatalf("RandomStatusIndex(5) = %d", i)
		}
	}
}

// One rule decides whether an entitlement token is revoked: introspection applies it to the
// live grant and the token's bit.
func TestTokenRevoked(t *testing.T) {
	held := GrantState{Member: true, Version: 3}
	for _, c := range []struct {
		name    string
		version int64
		bit     bool
		g       GrantState
		want    bool
	}{
		{"the grant it was issued on, bit clear", 3, false, held, false},
		{"bit set", 3, true, held, true},
		{"another grant version since", 2, false, held, true},
		{"member removed", 3, false, GrantState{Version: 4}, true},
		{"contract terminated", 3, false, GrantState{Member: true, Version: 3, Terminated: true}, true},
	} {
		if got := TokenRevoked(c.version, c.bit, c.g); got != c.want {
			t.Errorf("%s: TokenRevoked = %v, want %v", c.name, got, c.want)
		}
	}
}
