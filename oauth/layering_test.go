package oauth

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// HTTP belongs to web: oauth takes typed requests and uses net/http for
// status codes only. These packages parse or serve HTTP (or the MIME
// formats HTTP carries) and have no place in oauth or below it.
var httpParsing = []string{
	"mime", "mime/multipart", "mime/quotedprintable", "net/textproto",
	"net/http/cgi", "net/http/cookiejar", "net/http/fcgi", "net/http/httptest",
	"net/http/httptrace", "net/http/httputil", "net/http/pprof",
}

// httpUseProblems lists, for the Go source files of one package, every use
// of net/http other than a Status* constant and every import of an HTTP
// parsing package.
func httpUseProblems(fset *token.FileSet, files map[string]*ast.File) []string {
	var bad []string
	for name, f := range files {
		httpName := ""
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if slices.Contains(httpParsing, path) {
				bad = append(bad, name+": imports "+path)
			}
			if path != "net/http" {
				continue
			}
			httpName = "http"
			if imp.Name != nil {
				httpName = imp.Name.Name
			}
			if httpName == "." || httpName == "_" {
				bad = append(bad, name+": imports net/http as "+httpName)
			}
		}
		if httpName == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == httpName {
				if s := sel.Sel.Name; !strings.HasPrefix(s, "Status") || s == "StatusText" {
					bad = append(bad, fset.Position(sel.Pos()).String()+": uses "+httpName+"."+s)
				}
			}
			return true
		})
	}
	slices.Sort(bad)
	return bad
}

// parseNonTest parses the non-test Go files of the package in dir.
func parseNonTest(t *testing.T, fset *token.FileSet, dir string) map[string]*ast.File {
	t.Helper()
	pkg, err := build.ImportDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Join(dir, name)] = f
	}
	return files
}

// TestNoHTTPParsingInOAuth: oauth's own files use net/http only for
// http.Status* constants and import no HTTP parsing package; the module
// packages oauth imports (all but oauth/verify, the resource servers'
// library, which fetches JWKS and offers middleware) do not import net/http
// at all.
func TestNoHTTPParsingInOAuth(t *testing.T) {
	fset := token.NewFileSet()
	if bad := httpUseProblems(fset, parseNonTest(t, fset, ".")); len(bad) > 0 {
		t.Errorf("oauth does HTTP's work (web's job):\n%s", strings.Join(bad, "\n"))
	}

	const module = "github.com/sigilauth/sigil"
	seen := map[string]bool{}
	var walk func(importPath, dir string)
	walk = func(importPath, dir string) {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", importPath, err)
		}
		for _, imp := range pkg.Imports {
			if importPath != module+"/oauth" && (imp == "net/http" || slices.Contains(httpParsing, imp)) {
				t.Errorf("%s, imported by oauth, imports %s", importPath, imp)
			}
			rel, ok := strings.CutPrefix(imp, module+"/")
			if !ok || seen[imp] || imp == module+"/oauth/verify" {
				continue
			}
			seen[imp] = true
			walk(imp, filepath.Join("..", filepath.FromSlash(rel)))
		}
	}
	walk(module+"/oauth", ".")
	if len(seen) == 0 {
		t.Fatal("oauth imports no package of the module: the walk read nothing")
	}
}

// TestHTTPUseProblems checks the checker on sources that break the rule,
// and on one that keeps it.
func TestHTTPUseProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{name: "status constants only", src: `package p
import "net/http"
var _ = []int{http.StatusBadRequest, http.StatusServiceUnavailable}`},
		{name: "request", src: `package p
import "net/http"
func f(r *http.Request) string { return r.FormValue("x") }`, want: []string{"p.go:3:11: uses http.Request"}},
		{name: "renamed import", src: `package p
import nh "net/http"
var _ = nh.StatusOK
func f() { _ = nh.ParseHTTPVersion }`, want: []string{"p.go:4:16: uses nh.ParseHTTPVersion"}},
		{name: "status text", src: `package p
import "net/http"
var _ = http.StatusText(400)`, want: []string{"p.go:3:9: uses http.StatusText"}},
		{name: "multipart", src: `package p
import "mime/multipart"
var _ multipart.Reader`, want: []string{"p.go: imports mime/multipart"}},
		{name: "dot import", src: `package p
import . "net/http"
var _ = StatusOK`, want: []string{"p.go: imports net/http as ."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", tc.src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			got := httpUseProblems(fset, map[string]*ast.File{"p.go": f})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
		})
	}
}
