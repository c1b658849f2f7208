package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
)

// newcomerHints tells someone who just ran `go run ./server` what to do next: the URL to open,
// how to make the first staff user on an empty database, and where letters go without SMTP.
func newcomerHints(ctx context.Context, cfg Config, identity *dbstore.Identity, log *slog.Logger) {
	log.Info("open the portal in a browser", "url", strings.TrimRight(cfg.BaseURL, "/")+"/")
	if cfg.SMTPURL == "" {
		log.Info("no ENTITLED_SMTP_URL: letters are written as .eml files, and each one's path is logged", "dir", cfg.mailDir())
	}
	staff, _, err := identity.ListStaff(ctx, models.Page{Limit: 1})
	if err != nil || len(staff) > 0 {
		return
	}
	log.Info("no staff user yet: create the first with `entitled staff add --email you@example.com --roles ops,renewals,support,superadmin` " +
		"(with go: go run ./server staff add …; the password is read from standard input), or seed a demo with `go run ./server demo`")
}

// Demo data: a product with versions in every lifecycle phase, an order for the customer to
// register, contracts due at different times for the renewals dashboard, and a staff user.
const (
	demoSKU        = "DEMO-EDGE"
	demoSKUFleet   = "DEMO-FLEET"
	demoStaffEmail = "renewals@demo.example"
)

// cmdDemo seeds demo data and prints what to type to try the customer's and the renewal
// representative's journeys. The staff password is generated and printed, or read from standard
// input with --password-stdin. It can run again: each run adds a fresh order and contracts.
func cmdDemo(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("staff-email", demoStaffEmail, "the demo renewals staff user's email")
	fromStdin := fs.Bool("password-stdin", false, "read the staff user's password from standard input instead of generating one")
	cfgArgs, err := parseOwnFlags(fs, args)
	if err != nil {
		return usageError{"usage: entitled demo [--staff-email E] [--password-stdin]: " + err.Error()}
	}
	password := ""
	if *fromStdin {
		if password, err = readPassword(stdin, stderr); err != nil {
			return err
		}
	} else {
		password = demoPassword()
	}
	cfg, rest, err := loadConfig("demo", cfgArgs, env)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{fmt.Sprintf("demo takes no arguments, got %q", rest)}
	}
	log := newLogger(cfg, stderr)
	store, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	bg, err := newJobs(cfg, store, log, nil, false) // letters are queued for the server to send
	if err != nil {
		return err
	}
	identity := dbstore.NewIdentity(store, bg.outbox, cfg.BaseURL)
	catalogue := dbstore.NewCatalogue(store)
	orders := dbstore.NewOrders(store, bg.outbox, cfg.BaseURL)
	actor := models.SystemActor("cli:demo")
	today := models.DateOf(store.Clock.Now())
	day := func(n int) string { return today.AddDays(n).String() }

	products := []struct {
		sku, name string
		versions  [][3]string
	}{
		{demoSKU, "Edge Gateway", [][3]string{{"3.2", day(-3 * 365), models.PhaseDiscontinued}, {"4.0", day(-480), models.PhaseLimited},
			{"4.1", day(-170), models.PhaseFull}, {"5.0", day(-30), models.PhaseFull}}},
		{demoSKUFleet, "Fleet Manager", [][3]string{{"2.3", day(-330), models.PhaseFull}}},
	}
	for _, p := range products {
		if _, err := catalogue.Product(ctx, p.sku); err == nil {
			continue
		} else if dbstore.ErrorCode(err) != models.CodeNotFound {
			return err
		}
		if _, err := catalogue.CreateProduct(ctx, p.sku, p.name, actor); err != nil {
			return describe(err)
		}
		for _, v := range p.versions {
			if _, err := catalogue.AddVersion(ctx, p.sku, models.VersionInput{Version: v[0], ReleasedOn: v[1], Phase: v[2]}, actor); err != nil {
				return describe(err)
			}
		}
	}

	run := time.Now().UTC().Format("20060102-150405.000000") // order refs are unique: one set per run
	sale := func(n int, sku, account, contact, contactEmail, program string, startsIn, endsIn int) (string, error) {
		ten := 10
		res, err := orders.Place(ctx, models.OrderInput{
			OrderRef: fmt.Sprintf("DEMO-%s-%d", run, n), AccountName: account, ContactName: contact, ContactEmail: contactEmail,
			Items: []models.OrderItem{{SKU: sku, Quantity: &ten, Kind: models.KindPerpetual,
				Support: &models.SupportInput{Program: program, StartsOn: day(startsIn), EndsOn: day(endsIn)}}},
		}, actor)
		if err != nil {
			return "", describe(err)
		}
		return res.Licenses[0].License.LicenseNumber, nil
	}
	ln, err := sale(1, demoSKU, "Northwind Traders", "Dana Whitfield", "dana@northwind.example", models.Program24x7, -245, 120)
	if err != nil {
		return err
	}
	// The renewals dashboard's material: due in 5, 20, 45 and 80 days, and one lapsed.
	for i, c := range []struct {
		sku, account, contact, email, program string
		ends                                  int
	}{
		{demoSKUFleet, "Contoso Pharmaceuticals", "Priya Raman", "priya.raman@contoso.example", models.ProgramStandard, 5},
		{demoSKU, "Fabrikam Logistics", "Jonas Berg", "jonas.berg@fabrikam.example", models.Program24x7, 20},
		{demoSKU, "Tailspin Toys", "Ana Souza", "ana@tailspin.example", models.ProgramStandard, 45},
		{demoSKUFleet, "Wide World Importers", "Kenji Mori", "k.mori@wideworld.example", models.Program24x7, 80},
		{demoSKU, "Litware Inc", "Omar Haddad", "omar@litware.example", models.ProgramStandard, -10},
	} {
		if _, err := sale(i+2, c.sku, c.account, c.contact, c.email, c.program, c.ends-364, c.ends); err != nil {
			return err
		}
	}
	if _, _, err := identity.PutStaff(ctx, models.StaffInput{Email: *email, Name: "Riley Renewals", Password: password,
		Roles: []string{models.RoleRenewals, models.RoleSupport}}, actor); err != nil {
		return describe(err)
	}

	base := strings.TrimRight(cfg.BaseURL, "/")
	pw := password
	if *fromStdin {
		pw = "(the one you gave)"
	}
	fmt.Fprintf(stdout, `Demo data is ready: product "Edge Gateway" (versions in every lifecycle phase), an order by
Northwind Traders with License Number %s, and contracts that end soon.

Start the server (if it is not running):   go run ./server
Then open %s/

The customer's journey
  1. Sign up at %s/signup with any address and a password of 12 characters or more.
  2. No SMTP is configured, so the letter is written to %s/<id>.eml and the server logs
     its path ("letter written"). Open the /verify?token=… link in it and press the button.
  3. Log in, choose "Register a product" and type the License Number:
         %s
     You become its administrator: see its support, response targets and versions, invite a
     colleague under Members, take a key for a machine under License keys, and read the audit
     trail.

The renewal representative's journey
  1. Log in at %s/login as
         email:    %s
         password: %s
  2. The dashboard counts what expires within 7, 30, 60 and 90 days, in grace and lapsed.
     Open "within 30 days", then Fabrikam Logistics (ends in 20 days), choose a new end date,
     press "Renew…" and confirm: it leaves the list. "Download CSV" exports the list.
  3. The same user works the registration help queue (Help queue).
`, ln, base, base, cfg.mailDir(), ln, base, *email, pw)
	return nil
}

// demoPassword is a random password that the rules accept: four groups of five letters/digits.
func demoPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program rather than return an error
	var out strings.Builder
	for i, c := range b {
		if i > 0 && i%5 == 0 {
			out.WriteByte('-')
		}
		out.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return out.String()
}
