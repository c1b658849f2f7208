package handlers

import (
	"reflect"
	"strconv"

	"entitled/models"
)

var typeOfString = reflect.TypeOf("")

func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

type productRefJSON struct {
	SKU  string `json:"sku"`
	Name string `json:"name"`
}

type supportSummaryJSON struct {
	Status   string      `json:"status"`
	Program  *string     `json:"program"`
	Premier  bool        `json:"premier"`
	StartsOn models.Date `json:"starts_on"`
	EndsOn   models.Date `json:"ends_on"`
	DaysLeft *int        `json:"days_left"`
}

// licenseJSON is a license as every answer shows it (contract: "Shapes").
type licenseJSON struct {
	LicenseNumber string             `json:"license_number"`
	AccountID     string             `json:"account_id"`
	Product       productRefJSON     `json:"product"`
	Quantity      int                `json:"quantity"`
	Kind          string             `json:"kind"`
	ServiceTag    *string            `json:"service_tag,omitempty"`
	OrderedOn     models.Date        `json:"ordered_on"`
	RegisteredOn  *models.Date       `json:"registered_on,omitempty"`
	Roles         []string           `json:"roles,omitempty"`
	ContractID    *string            `json:"contract_id,omitempty"`
	Support       supportSummaryJSON `json:"support"`
}

func (h *api) toLicenseJSON(d *models.LicenseDetail, today models.Date, roles []string) licenseJSON {
	l := licenseJSON{
		LicenseNumber: d.License.LicenseNumber, AccountID: d.Account.AccountID,
		Product:  productRefJSON{SKU: d.Product.SKU, Name: d.Product.Name},
		Quantity: d.License.Quantity, Kind: d.License.Kind, ServiceTag: d.License.ServiceTag,
		OrderedOn: d.License.OrderedOn, Roles: roles,
	}
	if !d.License.RegisteredOn.IsZero() {
		r := d.License.RegisteredOn
		l.RegisteredOn = &r
	}
	l.Support = toSupportSummaryJSON(d.Summary(today, h.licenses.RenewalWindowDays), d.Contract != nil)
	if d.Contract != nil {
		id := itoa64(d.Contract.ID)
		l.ContractID = &id
	}
	return l
}

// toSupportSummaryJSON is a license's support in brief; the program and the days left are shown
// only with a contract, the days left only when it has an end.
func toSupportSummaryJSON(s models.SupportSummary, hasContract bool) supportSummaryJSON {
	out := supportSummaryJSON{Status: s.Status, Premier: s.Premier, StartsOn: s.StartsOn, EndsOn: s.EndsOn}
	if hasContract {
		out.Program = &s.Program
		if !s.EndsOn.IsZero() {
			out.DaysLeft = &s.DaysLeft
		}
	}
	return out
}
