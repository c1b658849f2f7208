package handlers

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// openAPIDocContractRoutes is every "METHOD path" of the endpoint table of the contract
// (shared/contract.md). Paths under /v1 are written in full; the root paths stay at the root.
var openAPIDocContractRoutes = []string{
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
	"GET /.well-known/jwks.json",
	"GET /openapi.json",
	"POST /v1/auth/signup",
	"POST /v1/auth/verify",
	"POST /v1/auth/login",
	"POST /v1/auth/logout",
	"POST /v1/auth/password/forgot",
	"POST /v1/auth/password/reset",
	"POST /v1/me/password",
	"GET /v1/me",
	"POST /v1/orders",
	"PATCH /v1/accounts/{account_id}",
	"GET /v1/users",
	"GET /v1/staff",
	"GET /v1/api-keys",
	"POST /v1/products",
	"GET /v1/products",
	"GET /v1/products/{sku}",
	"POST /v1/products/{sku}/versions",
	"PATCH /v1/products/{sku}/versions/{version}",
	"POST /v1/registrations",
	"GET /v1/licenses",
	"GET /v1/licenses/{ln}",
	"GET /v1/licenses/{ln}/members",
	"PUT /v1/licenses/{ln}/members/{email}",
	"DELETE /v1/licenses/{ln}/members/{email}",
	"GET /v1/licenses/{ln}/requests",
	"POST /v1/licenses/{ln}/requests/{id}/approve",
	"POST /v1/licenses/{ln}/requests/{id}/reject",
	"DELETE /v1/requests/{id}",
	"GET /v1/licenses/{ln}/support",
	"GET /v1/licenses/{ln}/audit",
	"POST /v1/registration-help",
	"GET /v1/registration-help",
	"POST /v1/registration-help/{id}/resolve",
	"GET /v1/contracts",
	"GET /v1/renewals",
	"POST /v1/contracts/{id}/renewals",
	"POST /v1/contracts/{id}/upgrade",
	"POST /v1/contracts/{id}/terminate",
	"POST /v1/contracts/{id}/grace",
	"POST /v1/accounts/recover",
	"POST /v1/entitlements/token",
	"GET /v1/entitlements/check",
	"POST /v1/entitlements/introspect",
	"POST /v1/licenses/{ln}/keys",
	"GET /v1/licenses/{ln}/keys",
	"DELETE /v1/licenses/{ln}/keys/{id}",
	"GET /v1/audit",
	"POST /v1/staff",
	"POST /v1/api-keys",
	"DELETE /v1/api-keys/{id}",
}

func openAPIDocLoad(t *testing.T) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatalf("read openapi.json: %v", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	return doc
}

// TestOpenAPIDocumentValid: the document is valid OpenAPI 3.1 (kin-openapi's validation, including
// JSON Schema 2020-12 schemas and their examples).
func TestOpenAPIDocumentValid(t *testing.T) {
	doc := openAPIDocLoad(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid: %v", err)
	}
	if doc.Info == nil || doc.Info.Title != "entitled" || doc.Info.Version != "1.0.0" {
		t.Errorf("info = %+v, want title entitled, version 1.0.0", doc.Info)
	}
	if doc.Components == nil || doc.Components.SecuritySchemes["bearer"] == nil {
		t.Fatalf("components.securitySchemes.bearer is missing")
	}
}

// TestOpenAPIDocumentContractRoutes: every method and path of the contract's endpoint table is
// documented with the contract's parameter names (TestRoutesMatchOpenAPI checks x-planned against
// the router).
func TestOpenAPIDocumentContractRoutes(t *testing.T) {
	doc := openAPIDocLoad(t)
	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	for _, route := range openAPIDocContractRoutes {
		op, ok := documented[route]
		if !ok {
			t.Errorf("%s is not documented", route)
			continue
		}
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", route)
		}
	}
	if len(documented) < len(openAPIDocContractRoutes) {
		t.Errorf("%d operations documented, want at least %d", len(documented), len(openAPIDocContractRoutes))
	}
}

// TestOpenAPIDocumentOperations: every operation has a unique operationId, a description and a
// security requirement (empty for anonymous ones), and every 4xx/5xx answer is
// application/problem+json with the Problem schema.
func TestOpenAPIDocumentOperations(t *testing.T) {
	doc := openAPIDocLoad(t)
	seen := map[string]string{}
	var routes []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			route := method + " " + path
			routes = append(routes, route)
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", route)
			} else if other, dup := seen[op.OperationID]; dup {
				t.Errorf("operationId %q is used by %s and %s", op.OperationID, other, route)
			} else {
				seen[op.OperationID] = route
			}
			if op.Description == "" {
				t.Errorf("%s has no description (who may call it)", route)
			}
			if op.Security == nil {
				t.Errorf("%s has no security requirement (use [] for anonymous)", route)
			}
			if op.Responses == nil || op.Responses.Len() == 0 {
				t.Errorf("%s has no responses", route)
				continue
			}
			for status, resp := range op.Responses.Map() {
				if !(strings.HasPrefix(status, "4") || strings.HasPrefix(status, "5")) {
					continue
				}
				if resp.Value == nil {
					t.Errorf("%s %s: unresolved response", route, status)
					continue
				}
				if len(resp.Value.Content) != 1 {
					t.Errorf("%s %s: content types %v, want only application/problem+json", route, status, openAPIDocContentTypes(resp.Value.Content))
				}
				mt := resp.Value.Content.Get("application/problem+json")
				if mt == nil || mt.Schema == nil {
					t.Errorf("%s %s: no application/problem+json schema", route, status)
					continue
				}
				if mt.Schema.Ref != "#/components/schemas/Problem" {
					t.Errorf("%s %s: schema %q, want #/components/schemas/Problem", route, status, mt.Schema.Ref)
				}
			}
		}
	}
	if len(routes) == 0 {
		t.Fatal("no operations documented")
	}
}

func openAPIDocContentTypes(c openapi3.Content) []string {
	var ks []string
	for k := range c {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
