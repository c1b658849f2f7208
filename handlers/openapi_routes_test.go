package handlers

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"entitled/handlers/handlerstest"
	"entitled/models/store"
	"entitled/models/storetest"
)

var ginParamRE = regexp.MustCompile(`[:*][^/]+`)
var openAPIParamRE = regexp.MustCompile(`\{[^}/]+\}`)

// routedOperations lists "METHOD path" for every route of the real router, parameters as {}.
func routedOperations(t *testing.T) map[string]bool {
	t.Helper()
	h, err := New(Deps{Store: storetest.Open(t, store.SQLite, nil)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range h.(*gin.Engine).Routes() {
		if isPageRoute(r.Path) {
			continue
		}
		out[r.Method+" "+ginParamRE.ReplaceAllString(r.Path, "{}")] = true
	}
	return out
}

// Every route in the router is in the OpenAPI document, and every operation of the document that
// is not marked x-planned is routed: the document cannot drift from what the server serves.
func TestRoutesMatchOpenAPI(t *testing.T) {
	routed := routedOperations(t)
	doc := openAPIDocLoad(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := strings.ToUpper(method) + " " + openAPIParamRE.ReplaceAllString(path, "{}")
			planned, _ := op.Extensions["x-planned"].(bool)
			documented[key] = !planned
		}
	}
	var undocumented, unrouted, plannedButRouted []string
	for r := range routed {
		built, ok := documented[r]
		switch {
		case !ok:
			undocumented = append(undocumented, r)
		case !built:
			plannedButRouted = append(plannedButRouted, r)
		}
	}
	for d, built := range documented {
		if built && !routed[d] {
			unrouted = append(unrouted, d)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unrouted)
	sort.Strings(plannedButRouted)
	if len(undocumented) > 0 {
		t.Errorf("routes missing from openapi.json:\n  %s", strings.Join(undocumented, "\n  "))
	}
	if len(unrouted) > 0 {
		t.Errorf("documented operations the router does not serve (mark them x-planned or route them):\n  %s", strings.Join(unrouted, "\n  "))
	}
	if len(plannedButRouted) > 0 {
		t.Errorf("routed operations still marked x-planned in openapi.json:\n  %s", strings.Join(plannedButRouted, "\n  "))
	}
}

// isPageRoute tells the portal's pages from the API (handlerstest.IsPageRoute).
func isPageRoute(path string) bool { return handlerstest.IsPageRoute(path) }
