package mailer

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Letter subjects never carry text that another user chose (contract: "Letter subjects never
// carry text that another user chose"): a subject is what a mail client shows before anyone
// opens the letter, and a genuine letter from us whose subject says what a stranger typed
// ("Urgent: call +1 555…", "Your account is locked, see evil.example") is a phishing aid.
//
// The test renders every known message with every string field (nested ones too) set to a
// marker, except the fields named in notUserChosen, in every combination of booleans, numbers,
// empty or filled lists and the values of enumerated fields, and fails when a subject shows the
// marker. A field added to a message is user-chosen until it is added to notUserChosen, so a
// subject that starts showing a new name, message, reason or company fails here.

// subjectMarker stands for text a user chose.
const subjectMarker = "Mxq7Marker"

// notUserChosen are the string fields whose value the server or the vendor chooses, with the
// value they get in this test. Everything else (names, "Name <email>" strings, account and
// company names, messages, reasons, order references, service tags, …) is user-chosen: a
// customer or the order system typed it.
var notUserChosen = map[string]string{
	"LicenseNumber": "LN-7KQ2-M9XD-44TB-R1ZC", // made by the server
	"AccountID":     "4829173",                // made by the server
	"ProductName":   "Widget Server",          // the vendor's catalogue
	"Product":       "Widget Server",          // LicenseLine's: the vendor's catalogue
	"SKU":           "WS-100",                 // the vendor's catalogue
	"Program":       "standard",               // an enumeration
	"Kind":          "perpetual",              // an enumeration
	"Roles":         "admin, support",         // enumerated roles
	"EndsOn":        "2027-06-30",             // dates
	"GraceUntil":    "2027-08-29",
	"Day":           "2027-06-01",
	"RequestID":     "42", // ids the server made
	"ContractID":    "43",
	"WebhookID":     "44",
	"FailingSince":  "2027-06-01T10:00:00Z",
	"Link":          "https://licenses.example.com/verify?token=abc", // links the server made
	"Change":        "",                                              // enumerated: set per variant (changeValues)
}

// changeValues are ContractChanged.Change's values.
var changeValues = []string{"renewed", "upgraded", "terminated", "grace"}

// isServerURL reports whether a field is a link the server made (…URL).
func isServerURL(name string) bool { return strings.HasSuffix(name, "URL") }

type subjectVariant struct {
	b           bool
	n           int64
	change      string
	fillSlices  bool
	emptyServer bool // the fields of notUserChosen are empty (for {{if .LicenseNumber}}-style branches)
}

func (v subjectVariant) String() string {
	return fmt.Sprintf("bools=%v ints=%d change=%s lists=%v server-fields-empty=%v", v.b, v.n, v.change, v.fillSlices, v.emptyServer)
}

// fillMessage sets every field of the struct value rv as the variant says.
func fillMessage(t *testing.T, rv reflect.Value, v subjectVariant) {
	t.Helper()
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		fillValue(t, rv.Field(i), f.Name, rt.Name()+"."+f.Name, v)
	}
}

func fillValue(t *testing.T, fv reflect.Value, name, path string, v subjectVariant) {
	t.Helper()
	switch fv.Kind() {
	case reflect.String:
		server, ok := notUserChosen[name]
		switch {
		case name == "Change":
			fv.SetString(v.change)
		case ok || isServerURL(name):
			if isServerURL(name) {
				server = "https://licenses.example.com/somewhere"
			}
			if v.emptyServer {
				server = ""
			}
			fv.SetString(server)
		default:
			fv.SetString(subjectMarker + " " + name)
		}
	case reflect.Bool:
		fv.SetBool(v.b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fv.SetInt(v.n)
	case reflect.Struct:
		fillMessage(t, fv, v)
	case reflect.Slice:
		if !v.fillSlices {
			fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
			return
		}
		s := reflect.MakeSlice(fv.Type(), 2, 2)
		for i := range 2 {
			fillValue(t, s.Index(i), name, path+"[]", v)
		}
		fv.Set(s)
	default:
		t.Fatalf("%s is a %s: teach this test which of its values a user chooses", path, fv.Kind())
	}
}

func TestSubjectsCarryNoUserChosenText(t *testing.T) {
	r, err := NewRenderer("https://licenses.example.com")
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	var variants []subjectVariant
	for _, b := range []bool{false, true} {
		for _, n := range []int64{0, 1, 7, -3} {
			for _, change := range changeValues {
				for _, lists := range []bool{false, true} {
					for _, empty := range []bool{false, true} {
						variants = append(variants, subjectVariant{b: b, n: n, change: change, fillSlices: lists, emptyServer: empty})
					}
				}
			}
		}
	}
	for _, known := range knownMessages {
		t.Run(known.Template(), func(t *testing.T) {
			for _, v := range variants {
				ptr := reflect.New(reflect.TypeOf(known))
				fillMessage(t, ptr.Elem(), v)
				msg := ptr.Elem().Interface().(Message)
				l, err := r.Render(msg, []string{"someone@example.com"}, nil)
				if err != nil {
					t.Fatalf("%s: Render: %v", v, err)
				}
				if strings.Contains(l.Subject, subjectMarker) {
					t.Fatalf("%s: the subject %q shows a field a user chose", v, l.Subject)
				}
			}
		})
	}
}

// The test itself: a subject that shows a user-chosen field is caught (a template with a name in
// its subject, as join_requested had).
func TestSubjectsCarryNoUserChosenText_CatchesANameInASubject(t *testing.T) {
	rv := reflect.New(reflect.TypeOf(JoinRequested{})).Elem()
	fillMessage(t, rv, subjectVariant{})
	jr := rv.Interface().(JoinRequested)
	if !strings.Contains(jr.Requester, subjectMarker) || !strings.Contains(jr.Name, subjectMarker) {
		t.Fatalf("the requester's and the admin's names are user-chosen, got %+v", jr)
	}
	if strings.Contains(jr.LicenseNumber, subjectMarker) || strings.Contains(jr.ReviewURL, subjectMarker) {
		t.Fatalf("License Numbers and the server's links are not user-chosen, got %+v", jr)
	}
}
