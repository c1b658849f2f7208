// Package mailer writes and delivers the letters entitled sends: it renders a typed message
// through the templates in templates/mail, queues the rendered Letter as a River job in the
// caller's transaction (so a change and the letters it causes commit or roll back together),
// and a River worker hands each letter to a Transport: SMTP, or .eml files in a directory when
// no SMTP server is configured.
//
// The package imports nothing of the project but templates, so that the domain layer can queue
// letters without an import cycle.
package mailer

// Message is one kind of letter with the data its templates need. Template names the pair of
// files templates/mail/NAME.txt.tmpl and NAME.html.tmpl. The exported fields of a message
// (which must be a struct) are what its templates see, beside .BaseURL, .Links (the Links of
// the base URL: {{.Links.Login}}), .Product and, in the HTML part, .Subject. A subject never shows text a user chose (names, messages, reasons,
// company and account names, order references): only License Numbers, Account IDs, product
// names, dates and counts (TestSubjectsCarryNoUserChosenText).
type Message interface {
	Template() string
}

// TestLetter is the letter ops send to check the mail settings.
type TestLetter struct{}

// Template implements Message.
func (TestLetter) Template() string { return "test" }

// VerifyEmail asks a new user to confirm the email address. Link is
// <base URL>/verify?token=…, valid for 24 hours.
type VerifyEmail struct {
	Name string
	Link string
}

// Template implements Message.
func (VerifyEmail) Template() string { return "verify_email" }

// SignupExisting tells the owner of an address that someone tried to sign up with it again. It
// replaces the verification letter so that signup never reveals whether an address has an account.
type SignupExisting struct {
	Name string
}

// Template implements Message.
func (SignupExisting) Template() string { return "signup_existing" }

// PasswordReset carries a password-reset link, <base URL>/reset-password?token=…, valid 1 hour.
type PasswordReset struct {
	Name string
	Link string
}

// Template implements Message.
func (PasswordReset) Template() string { return "password_reset" }

// PasswordChanged tells a user that the password was changed and other sessions were ended.
type PasswordChanged struct {
	Name string
}

// Template implements Message.
func (PasswordChanged) Template() string { return "password_changed" }

// SecondFactorChanged tells a user that a second factor was added to, or removed from, their
// account. Method names it for people ("an authenticator app").
type SecondFactorChanged struct {
	Name   string
	Added  bool
	Method string
}

// Template implements Message.
func (SecondFactorChanged) Template() string { return "second_factor_changed" }

// LicenseLine is one license as letters list it.
type LicenseLine struct {
	LicenseNumber string
	Product       string
	SKU           string
	Quantity      int
	Kind          string
	ServiceTag    string
	Support       string // e.g. "standard support until 2027-06-30"; empty without support
}

// OrderConfirmation is the welcome letter of an order: the License Numbers and the Account ID a
// customer needs to register, and what was renewed or extended.
type OrderConfirmation struct {
	Name        string
	AccountID   string
	AccountName string
	OrderRef    string
	NewLicenses []LicenseLine
	Renewed     []LicenseLine // Support says the new end
	SeatsAdded  []LicenseLine // Quantity is the new total
	RegisterURL string
}

// Template implements Message.
func (OrderConfirmation) Template() string { return "order_confirmation" }

// RecoveredAccount is one account in a recovery letter.
type RecoveredAccount struct {
	AccountID string
	Name      string
	Licenses  []LicenseLine
}

// AccountRecovery re-sends a primary contact the Account IDs and License Numbers of the accounts
// they are the contact of.
type AccountRecovery struct {
	Name        string
	Accounts    []RecoveredAccount
	RegisterURL string
}

// Template implements Message.
func (AccountRecovery) Template() string { return "account_recovery" }

// ClaimNotice tells an order's primary contact that someone registered one of its licenses and
// became its administrator, with a way to ask for help if that was not expected.
type ClaimNotice struct {
	Name          string
	LicenseNumber string
	ProductName   string
	ClaimedBy     string // "Name <email>"
	HelpURL       string
}

// Template implements Message.
func (ClaimNotice) Template() string { return "claim_notice" }

// JoinRequested asks a license's admins to approve or reject a registration.
type JoinRequested struct {
	Name          string // the admin
	Requester     string // "Name <email>"
	LicenseNumber string // the license asked for, or "" when asked by Account ID
	AccountID     string
	ProductName   string
	ReviewURL     string
}

// Template implements Message.
func (JoinRequested) Template() string { return "join_requested" }

// RequestDecided tells a requester what an admin decided.
type RequestDecided struct {
	Name          string
	LicenseNumber string
	AccountID     string
	Approved      bool
	Roles         string
	LicensesURL   string
}

// Template implements Message.
func (RequestDecided) Template() string { return "request_decided" }

// Invitation invites an address with no account to a license; the grant takes effect when it
// signs up and verifies. Link is <base URL>/invitations?token=….
type Invitation struct {
	InvitedBy     string
	LicenseNumber string
	ProductName   string
	Roles         string
	Link          string
}

// Template implements Message.
func (Invitation) Template() string { return "invitation" }

// HelpConfirmation confirms to the sender that a registration-help request was received.
type HelpConfirmation struct {
	Name      string
	RequestID string
}

// Template implements Message.
func (HelpConfirmation) Template() string { return "help_confirmation" }

// ContractChanged tells a primary contact what renewal staff changed on a support contract:
// Change is "renewed", "upgraded", "terminated" or "grace".
type ContractChanged struct {
	Name          string
	Change        string
	LicenseNumber string
	ProductName   string
	Program       string
	Premier       bool
	EndsOn        string
	GraceUntil    string
	Reason        string
}

// Template implements Message.
func (ContractChanged) Template() string { return "contract_changed" }

// CotermConfirmation tells an account's primary contact that its support contracts were
// co-terminated: each contract in Contracts got one term up to EndsOn, so that they all end
// together (contracts that already ended later were left alone).
type CotermConfirmation struct {
	Name      string
	AccountID string
	EndsOn    string
	Contracts []CotermLine
}

// CotermLine is one contract a co-term extended: from StartsOn to the common end.
type CotermLine struct {
	LicenseNumber string
	ProductName   string
	Program       string
	Premier       bool
	StartsOn      string
}

// Template implements Message.
func (CotermConfirmation) Template() string { return "coterm_confirmation" }

// WebhookDisabled tells a superadmin that a webhook endpoint was disabled because every delivery
// to it failed for 5 days: Endpoint is its URL (staff chose it), FailingSince when its deliveries
// started failing (RFC 3339), PageURL the portal page that shows its deliveries and enables it
// again.
type WebhookDisabled struct {
	Name         string
	WebhookID    string
	Endpoint     string
	Description  string
	FailingSince string
	PageURL      string
}

// Template implements Message.
func (WebhookDisabled) Template() string { return "webhook_disabled" }

// knownMessages are the messages of this package. NewRenderer requires templates for each and
// renders each once with zero values, so that a template naming a field the message lacks fails
// at start-up rather than when the first such letter is queued.
var knownMessages = []Message{
	TestLetter{},
	VerifyEmail{},
	SignupExisting{},
	PasswordReset{},
	PasswordChanged{},
	SecondFactorChanged{},
	OrderConfirmation{},
	AccountRecovery{},
	ClaimNotice{},
	JoinRequested{},
	RequestDecided{},
	Invitation{},
	HelpConfirmation{},
	ContractChanged{},
	CotermConfirmation{},
	RenewalNotice{},
	LapseNotice{},
	RenewalDigest{},
	WebhookDisabled{},
}

// Letter is a rendered letter, ready to send. It is stored as JSON in the job that delivers it,
// so it holds everything delivery needs and nothing that changes between attempts: every retry
// sends the same bytes under the same Message-ID, which lets receivers drop duplicates.
type Letter struct {
	MessageID string   `json:"message_id"` // with angle brackets: "<hex@host>"
	Kind      string   `json:"kind"`       // the Message's Template()
	To        []string `json:"to"`
	Cc        []string `json:"cc,omitempty"`
	Subject   string   `json:"subject"`
	Text      string   `json:"text"`
	HTML      string   `json:"html"`
}
