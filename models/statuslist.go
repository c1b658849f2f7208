package models

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"io"
	"math/bits"
	"math/rand/v2"
	"time"
)

// Token status lists (draft-ietf-oauth-status-list): every entitlement-token grant version and
// every license key owns one index of one list; its bit is 0 while what it stands for is valid
// and turns 1, for good, when it is revoked. A verifier that is offline from entitled but for one
// download of the list every StatusListTTL learns of revocations without asking per token.

// StatusListSize is how many indexes a list holds: 2^17, the draft's suggested minimum for
// herd privacy, 16 KiB of bits (a few hundred bytes compressed while few bits are set).
const StatusListSize = 1 << 17

// StatusListTTL is how long a verifier may cache a list by default (ENTITLED_STATUS_LIST_TTL),
// StatusListLifetime how long a signed list is valid (its exp is iat plus this), and
// StatusListResign how old a served list may grow before it is signed again: at half its
// lifetime, so that a verifier never holds a list near its exp while a fresher one is served.
const (
	StatusListTTL      = 300 * time.Second
	StatusListLifetime = 24 * time.Hour
	StatusListResign   = StatusListLifetime / 2
)

// TypStatusList is the JWT typ of a status list.
const TypStatusList = "statuslist+jwt"

// StatusRef names one index of one status list.
type StatusRef struct {
	List int64
	Idx  int64
}

// statusRef is the reference the two nullable columns hold, or false.
func statusRef(list, idx *int64) (StatusRef, bool) {
	if list == nil || idx == nil {
		return StatusRef{}, false
	}
	return StatusRef{List: *list, Idx: *idx}, true
}

// Status is the index of the member's current grant version, or false (no role, or a grant
// made before status lists existed).
func (m *Member) Status() (StatusRef, bool) { return statusRef(m.StatusListID, m.StatusIdx) }

// Status is the key's index, or false for a key issued before status lists existed.
func (k *LicenseKey) Status() (StatusRef, bool) { return statusRef(k.StatusListID, k.StatusIdx) }

// StatusBits is the bit array of a list of size indexes with the revoked ones set: bit i % 8,
// least significant first, of byte i / 8 (the draft's order). Indexes out of range are ignored.
func StatusBits(size int64, revoked []int64) []byte {
	b := make([]byte, (size+7)/8)
	for _, i := range revoked {
		if i >= 0 && i < size {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// StatusBit is index i's bit: true when it is revoked. An index past the array reads as valid.
func StatusBit(b []byte, i int64) bool {
	if i < 0 || i/8 >= int64(len(b)) {
		return false
	}
	return b[i/8]&(1<<(i%8)) != 0
}

// EncodeStatusList is a list's lst: the bit array ZLIB-compressed (RFC 1950, best compression:
// it is compressed once per change and downloaded by every verifier) and base64url without
// padding.
func EncodeStatusList(b []byte) string {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression) // the level is valid
	_, _ = w.Write(b)                                       // a bytes.Buffer does not fail
	_ = w.Close()
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

// maxStatusListBytes bounds what DecodeStatusList inflates: 2^24 indexes, far more than any list.
const maxStatusListBytes = 1 << 21

// DecodeStatusList is EncodeStatusList's inverse: the bit array of an lst.
func DecodeStatusList(lst string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(lst)
	if err != nil {
		return nil, err
	}
	r, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxStatusListBytes+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxStatusListBytes {
		return nil, errors.New("status list too large")
	}
	return out, nil
}

// RandomStatusIndex is an index of a list of size drawn uniformly from src: the first guess of
// an allocation, which succeeds unless the position is taken.
func RandomStatusIndex(src rand.Source, size int64) int64 {
	return rand.New(src).Int64N(size)
}

// PickFreeStatusIndex draws uniformly from src one of the positions of a list of size that are
// not in taken; false when every position is taken (the list is full). Allocation comes here
// once random guesses keep landing on taken positions, so that a nearly full list still hands
// out its last indexes in no particular order.
func PickFreeStatusIndex(src rand.Source, size int64, taken []int64) (int64, bool) {
	used := StatusBits(size, taken)
	var n int64
	for _, b := range used {
		n += int64(bits.OnesCount8(b))
	}
	free := size - n
	if free <= 0 {
		return 0, false
	}
	k := rand.New(src).Int64N(free) // the k-th free position, counting from 0
	for i := int64(0); i < size; i++ {
		if StatusBit(used, i) {
			continue
		}
		if k == 0 {
			return i, true
		}
		k--
	}
	return 0, false // not reached: free counts the zero bits below size
}

// GrantState is what introspection knows of the grant behind an entitlement token now.
type GrantState struct {
	Member     bool  // the user still holds a role on the license
	Version    int64 // the member's current grant version
	Terminated bool  // the license's contract is terminated
}

// TokenRevoked is the one rule that says an entitlement token no longer stands for its grant:
// the member holds no role any more, the grant changed since (another grant version), the
// token's status-list bit is set, or the license's contract is terminated. Every one of these
// changes also sets the bit of the token's grant (in the same transaction), which is what an
// offline verifier sees; introspection checks the live grant as well, so that a token issued
// before status lists existed is judged the same.
func TokenRevoked(tokenVersion int64, statusBit bool, g GrantState) bool {
	return !g.Member || g.Version != tokenVersion || statusBit || g.Terminated
}
