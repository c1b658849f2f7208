package mailer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/riverqueue/river"
)

// The renewal desk's letters: renewal notices before a support contract ends, the lapse notice
// the day after it lapsed, and the daily digest to renewal staff. They are queued by the notice
// sweep (store.Renewals), each in the same transaction as the row that makes it exactly-once.
//
// The product a license is for is ProductName: the templates' .Product is the server's own name.

// ContractNotice is what the renewal and the lapse notice both say of the contract: to whom
// (Name, the primary contact), which account, license, product and program, its last paid day
// (EndsOn), DaysLeft from today to EndsOn, and RenewURL, where to renew. Embedded, its fields
// are the notices' own, in their templates and in their job's JSON alike.
type ContractNotice struct {
	Name          string
	AccountName   string
	AccountID     string
	LicenseNumber string
	ProductName   string
	SKU           string
	Program       string
	Premier       bool
	EndsOn        string
	DaysLeft      int
	RenewURL      string
}

// RenewalNotice tells a primary contact (the license's admins in copy) that support ends soon:
// OffsetDays is the notice's offset of ENTITLED_RENEWAL_NOTICE_DAYS (90, 60, 30, 7); DaysLeft is
// 0 on the last covered day.
type RenewalNotice struct {
	ContractNotice
	OffsetDays int
}

// Template implements Message.
func (RenewalNotice) Template() string { return "renewal_notice" }

// LapseNotice tells a primary contact, the day after it happened, that support lapsed:
// GraceUntil (when staff granted grace) is the last day support ran on, DaysLeft (negative)
// counts from EndsOn. Trial says it was a trial, which is not renewed but bought.
type LapseNotice struct {
	ContractNotice
	GraceUntil string
	Trial      bool
}

func (LapseNotice) Template() string { return "lapse_notice" }

// DigestLine is one contract in the renewal staff's digest.
type DigestLine struct {
	ContractID    string
	LicenseNumber string
	AccountName   string
	AccountID     string
	Contact       string // "Name <email>"
	ProductName   string
	Program       string
	Premier       bool
	EndsOn        string
	GraceUntil    string
	DaysLeft      int
}

// RenewalDigest is the daily letter to staff renewals: what expires this week (0 ≤ days_left ≤ 7)
// and what lapsed yesterday. The counts are of every such contract; each list holds at most a
// few hundred of them, and ExpiringMore and LapsedMore count the ones left out.
type RenewalDigest struct {
	Name          string
	Day           string
	ExpiringCount int
	Expiring      []DigestLine
	ExpiringMore  int
	LapsedCount   int
	Lapsed        []DigestLine
	LapsedMore    int
	ListURL       string // the portal's renewals dashboard
}

// Template implements Message.
func (RenewalDigest) Template() string { return "renewal_digest" }

// Outgoing is one letter for QueueMany: the message and its recipients.
type Outgoing struct {
	Message Message
	To, Cc  []string
}

// manyInserter inserts many jobs with one statement; *river.Client[*sql.Tx] is one.
type manyInserter interface {
	InsertManyFastTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) (int, error)
}

// QueueMany renders letters (on every CPU at once) and inserts their delivery jobs in tx with
// one statement, for senders of many letters at a time such as the renewal sweep. It keeps
// Queue's guarantees: the letters exist only if tx commits. Errors as Queue's; on an error
// nothing is inserted.
func (o *Outbox) QueueMany(ctx context.Context, tx *sql.Tx, out []Outgoing) ([]Letter, error) {
	if tx == nil {
		return nil, errors.New("mailer: QueueMany needs the caller's transaction")
	}
	letters := make([]Letter, len(out))
	errs := make([]error, len(out))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(out)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(out); i = int(next.Add(1) - 1) {
				letters[i], errs[i] = o.r.Render(out[i].Message, out[i].To, out[i].Cc)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(letters) == 0 {
		return letters, nil
	}
	many, ok := o.ins.(manyInserter)
	if !ok {
		for _, l := range letters {
			if _, err := o.ins.InsertTx(ctx, tx, SendLetterArgs{Letter: l}, nil); err != nil {
				return nil, fmt.Errorf("mailer: queue letter %q: %w", l.Kind, err)
			}
		}
		return letters, nil
	}
	params := make([]river.InsertManyParams, len(letters))
	for i, l := range letters {
		params[i] = river.InsertManyParams{Args: SendLetterArgs{Letter: l}}
	}
	if _, err := many.InsertManyFastTx(ctx, tx, params); err != nil {
		return nil, fmt.Errorf("mailer: queue %d letters: %w", len(letters), err)
	}
	return letters, nil
}
