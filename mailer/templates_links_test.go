package mailer

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"entitled/templates"
)

// baseURLAction is a template action that mentions .BaseURL, with what follows it.
var baseURLAction = regexp.MustCompile(`\{\{-?([^}]*\.BaseURL\b[^}]*?)-?\}\}(.?)`)

// joinsBaseURL reports whether a template builds a link by joining .BaseURL with a path: the
// action is more than .BaseURL itself (print, printf, a pipeline), or a path, query, fragment
// or another action follows it directly. It returns the first such place and its offset.
func joinsBaseURL(src string) (string, int, bool) {
	for _, m := range baseURLAction.FindAllStringSubmatchIndex(src, -1) {
		action, next := src[m[2]:m[3]], src[m[4]:m[5]]
		if strings.TrimSpace(action) != ".BaseURL" || strings.ContainsAny(next, "/?#{") {
			return src[m[0]:m[1]], m[0], true
		}
	}
	return "", 0, false
}

// TestTemplatesBuildNoLinks: every link to a portal page in a template comes from mailer.Links
// ({{.Links.Login}}), never from .BaseURL joined with a path, so that handlers'
// TestLetterLinksAreRoutes covers every link a letter carries. .BaseURL alone (the portal's front
// door) is allowed.
func TestTemplatesBuildNoLinks(t *testing.T) {
	for _, tc := range []struct {
		src  string
		bad  bool
		what string
	}{
		{`<a href="{{.BaseURL}}/login">`, true, "path"},
		{`{{.BaseURL}}/forgot-password`, true, "path in text"},
		{`{{ .BaseURL }}/x`, true, "spaced action"},
		{`{{- .BaseURL -}}/x`, true, "trimming action"},
		{`{{.BaseURL}}?next=1`, true, "query"},
		{`{{.BaseURL}}{{.Path}}`, true, "another action"},
		{`{{printf "%s/login" .BaseURL}}`, true, "printf"},
		{`{{print .BaseURL "/login"}}`, true, "print"},
		{`<a href="{{.BaseURL}}">{{.BaseURL}}</a>.`, false, "front door"},
		{"{{.Product}} · {{.BaseURL}}\n", false, "footer"},
		{`{{.Links.Login}}`, false, "Links"},
	} {
		if _, _, got := joinsBaseURL(tc.src); got != tc.bad {
			t.Errorf("%s: joinsBaseURL(%q) = %v, want %v", tc.what, tc.src, got, tc.bad)
		}
	}

	n := 0
	err := fs.WalkDir(templates.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templates.FS, p)
		if err != nil {
			return err
		}
		n++
		src := string(b)
		for off := 0; ; {
			at, i, bad := joinsBaseURL(src[off:])
			if !bad {
				break
			}
			line := strings.Count(src[:off+i], "\n") + 1
			t.Errorf("templates/%s:%d joins .BaseURL with a path (%s); take the link from mailer.Links, e.g. {{.Links.Login}}", p, line, at)
			off += i + len(at)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no templates found")
	}
}
