package store

// Questions the portal's pages ask, each answered by one service call, so that a page only formats
// what it is given: the renewal dashboard's tiles, and a license's entitlements for every version
// of its product.

import (
	"context"
	"strconv"

	"gorm.io/gorm"

	"entitled/models"
)

// TileCount is one count of the renewal dashboard: Days is the window (0 for grace and lapsed);
// More says the count stopped at models.PageMax and there are more.
type TileCount struct {
	Days  int
	Count int
	More  bool
}

// RenewalTiles is what the renewal dashboard's tiles count under a program and a search: the
// current contracts due within each of models.DashboardWindows, those in grace, and the lapsed ones.
type RenewalTiles struct {
	Today  models.Date
	Within []TileCount // one per models.DashboardWindows(), in that order
	Grace  TileCount
	Lapsed TileCount
}

// RenewalTiles counts the dashboard's tiles: one list of the widest window, bucketed by days left
// (grace counted apart), and the lapsed contracts; each list stops at models.PageMax contracts.
// program and q filter as ContractFilter's do ("" for all).
func (s *Contracts) RenewalTiles(ctx context.Context, program, q string) (_ *RenewalTiles, err error) {
	defer wrapErr(&err, "count the renewal tiles")
	windows := models.DashboardWindows()
	capPage, err := ParseContractPage(strconv.Itoa(models.PageMax), "")
	if err != nil {
		return nil, err
	}
	widest := windows[len(windows)-1]
	due, err := s.List(ctx, models.ContractFilter{Program: program, Q: q, Within: widest, HasWithin: true}, capPage)
	if err != nil {
		return nil, err
	}
	lapsed, err := s.List(ctx, models.ContractFilter{Program: program, Q: q, Status: models.StatusLapsed}, capPage)
	if err != nil {
		return nil, err
	}
	out := &RenewalTiles{Today: due.Today, Within: make([]TileCount, len(windows)),
		Grace:  TileCount{More: due.Next != ""},
		Lapsed: TileCount{Count: len(lapsed.Items), More: lapsed.Next != ""}}
	for i, w := range windows {
		out.Within[i].Days = w
	}
	out.Within[len(windows)-1].More = due.Next != ""
	for _, v := range due.Items {
		st, days := v.Status(due.Today, s.RenewalWindowDays)
		if st == models.StatusGrace {
			out.Grace.Count++
		}
		for i, w := range windows {
			if days <= w {
				out.Within[i].Count++
			}
		}
	}
	return out, nil
}

// VersionSupport is a license's entitlements for one version of its product.
type VersionSupport struct {
	Version      models.ProductVersion
	Entitlements []models.Entitlement
}

// SupportByVersion answers Support's entitlements for every version of the license's product at
// once, oldest version first, to a member (for their roles) or to staff of any role.
// Errors: invalid_license_number, not_found, not_a_member.
func (s *Licenses) SupportByVersion(ctx context.Context, p *models.Principal, ln string) (_ []VersionSupport, err error) {
	defer wrapErr(&err, "read support by version")
	var out []VersionSupport
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acc, err := s.store.hotAccess(ctx, p, ln)
		if err != nil {
			return err
		}
		versions, err := s.store.productVersions(db, acc.Detail.License.ProductID)
		if err != nil {
			return err
		}
		today := s.Today()
		out = make([]VersionSupport, 0, len(versions))
		for _, v := range versions { // v is a copy: the cached slice is not handed out
			out = append(out, VersionSupport{Version: v, Entitlements: models.Entitlements(s.entitlementInput(&acc.Detail, acc.Member, &v, today))})
		}
		return nil
	})
	return out, err
}
