package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
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
		log.Info("no ENTITLED_SMTP_URL: letters are written as .eml files; each one's path is logged, with its link to open (verification, password reset, invitation)", "dir", cfg.mailDir())
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
// representative's journeys, for the database it seeded (the server command it prints names the
// same database and data directory). The staff password is generated and printed, or read from
// standard input with --password-stdin. Run again on a database that has the demo data, it adds
// nothing, leaves the staff password alone, and prints the instructions again.
func cmdDemo(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("staff-email", demoStaffEmail, "the demo renewals staff user's email")
	fromStdin := fs.Bool("password-stdin", false, "read the staff user's password from standard input instead of generating one")
	cfgArgs, err := parseOwnFlags(fs, args)
	if err != nil {
		return usageError{"usage: entitled demo [--staff-email E] [--password-stdin]: " + err.Error()}
	}
	return withCommand(ctx, "demo", "demo takes no arguments, got", cfgArgs, env, stderr, func(c commandEnv) error {
		return seedDemo(ctx, c, *email, *fromStdin, stdin, stdout, stderr)
	})
}

// seedDemo is cmdDemo on its store: it seeds the demo data (unless the database has it) with the
// staff user of the email, and prints the journeys. Its letters are queued for the server to send.
func seedDemo(ctx context.Context, c commandEnv, email string, fromStdin bool, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, store, bg := c.cfg, c.store, c.jobs
	contracts := dbstore.NewContracts(store, bg.outbox, cfg.RenewalWindowDays)
	if ln, err := demoLicense(ctx, contracts); err != nil {
		return err
	} else if ln != "" {
		fmt.Fprintf(stdout, `The demo data is already there (%s): nothing was added, and the demo staff user's password
is unchanged (the first run printed it; to choose another:
  %s --email %s --roles renewals,support
and type it on standard input).

`, cfg.databaseLabel(), demoCommand(cfg, "staff add"), email)
		printDemoJourneys(stdout, cfg, ln, email, "(the one the first run printed)")
		return nil
	}
	password := ""
	if fromStdin {
		var err error
		if password, err = readPassword(stdin, stderr); err != nil {
			return err
		}
	} else {
		password = demoPassword()
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

	// The staff user first: a password the rules refuse stops the run before any order.
	if _, _, err := identity.PutStaff(ctx, models.StaffInput{Email: email, Name: "Riley Renewals", Password: password,
		Roles: []string{models.RoleRenewals, models.RoleSupport}}, actor); err != nil {
		return describe(err)
	}

	run := time.Now().UTC().Format("20060102-150405.000000") // order refs are unique
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
	// The renewals dashboard's material first: due in 5, 20, 45 and 80 days, and one lapsed.
	// Northwind's order comes last, as the mark that the demo data is complete (demoLicense).
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
	ln, err := sale(1, demoSKU, "Northwind Traders", "Dana Whitfield", demoMarkEmail, models.Program24x7, -245, 120)
	if err != nil {
		return err
	}

	pw := password
	if fromStdin {
		pw = "(the one you gave)"
	}
	fmt.Fprintf(stdout, `Demo data is ready in %s: product "Edge Gateway" (versions in every lifecycle
phase), an order by Northwind Traders with License Number %s, and contracts that end soon.

`, cfg.databaseLabel(), ln)
	printDemoJourneys(stdout, cfg, ln, email, pw)
	return nil
}

// demoMarkEmail is the contact of the demo's Northwind order: the order is seeded last, so a
// contract of this contact means the demo data is complete.
const demoMarkEmail = "dana@northwind.example"

// demoLicense is the License Number of the demo's Northwind order, or "" when the database does
// not have the demo data yet.
func demoLicense(ctx context.Context, contracts *dbstore.Contracts) (string, error) {
	list, err := contracts.List(ctx, models.ContractFilter{Q: demoMarkEmail}, dbstore.ContractPage{Limit: 1})
	if err != nil {
		return "", err
	}
	if len(list.Items) == 0 {
		return "", nil
	}
	return list.Items[0].License.LicenseNumber, nil
}

// demoCommand is how to run an entitled command on the same database, data directory and public
// URL as this one: "go run ./server <cmd>" and the flags of every setting that is not the
// default. A database password is shown masked; ENTITLED_SECRET is named, never printed.
func demoCommand(cfg Config, cmd string) string {
	def := defaultConfig()
	var b strings.Builder
	if !cfg.isSQLite() {
		b.WriteString("ENTITLED_SECRET=<the same secret> ")
	}
	b.WriteString("go run ./server")
	if cmd != "" {
		b.WriteString(" " + cmd)
	}
	if cfg.DataDir != def.DataDir {
		b.WriteString(" --data-dir " + shellQuote(cfg.DataDir))
	}
	if cfg.DatabaseURL != "sqlite://"+filepath.Join(cfg.DataDir, "entitled.db") {
		masked, _ := maskPassword(cfg.DatabaseURL)
		b.WriteString(" --database-url " + shellQuote(masked))
	}
	if cmd == "" {
		if cfg.Addr != def.Addr {
			b.WriteString(" --addr " + shellQuote(cfg.Addr))
		}
		if cfg.BaseURL != baseURLFromAddr(cfg.Addr) {
			b.WriteString(" --base-url " + shellQuote(cfg.BaseURL))
		}
	}
	return b.String()
}

// maskPassword is the URL with its password, if any, replaced by xxxxx, and whether it had one.
func maskPassword(raw string) (string, bool) {
	masked, had, ok := maskURL(raw)
	if !ok || !had {
		return raw, false
	}
	return masked, true
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._:-@,+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printDemoJourneys prints what to type to try the demo: the server command for this database,
// and the customer's and the renewal representative's journeys.
func printDemoJourneys(w io.Writer, cfg Config, ln, email, password string) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	letters := fmt.Sprintf(`No SMTP is configured, so the letter is written to %s/<id>.eml and the server
     logs its path and the link to open ("letter written" … link=%s/verify?token=…).
     Open that link and press the button.`, cfg.mailDir(), base)
	if cfg.SMTPURL != "" {
		letters = fmt.Sprintf(`The letter goes out through %s: open the %s/verify?token=…
     link in it and press the button.`, cfg.SMTPURL.String(), base)
	}
	note := ""
	if _, masked := maskPassword(cfg.DatabaseURL); masked {
		note = "\n(put the database password back in place of xxxxx)"
	}
	fmt.Fprintf(w, `Start the server (if it is not running), on the same database:
  %s%s
Then open %s/

The customer's journey
  1. Sign up at %s/signup with any address and a password of 12 characters or more.
  2. %s
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
`, demoCommand(cfg, ""), note, base, base, letters, ln, base, email, password)
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
