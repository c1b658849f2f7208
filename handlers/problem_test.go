package handlers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Every error code the domain declares has its HTTP status here: a code added to models without
// one would reach clients as a 500.
func TestEveryErrorCodeHasAStatus(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("../models/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	mapped := map[string]bool{}
	for code := range statusByCode {
		mapped[code] = true
	}
	found := 0
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					code, _ := strconv.Unquote(lit.Value)
					found++
					if !mapped[code] {
						t.Errorf("models.%s (%q) has no HTTP status in statusByCode", name.Name, code)
					}
				}
			}
		}
	}
	if found < 10 {
		t.Fatalf("found only %d Code constants in models; the scan is broken", found)
	}
}
