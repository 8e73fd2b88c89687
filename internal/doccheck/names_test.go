package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testName matches what a document names as a test: Test, Benchmark, Fuzz
// or Example, then an identifier, optionally ending in "*" (every test
// with that prefix, e.g. TestASVS_6_2_*). "Tests" or "Examples" in prose
// do not match: the name goes on with an upper-case letter, digit or "_".
var testName = regexp.MustCompile(`\b(?:Test|Benchmark|Fuzz|Example)[A-Z0-9_][A-Za-z0-9_]*\*?`)

// namedTests returns the test names a document mentions outside its Go
// blocks (those show the reader's code, checked by TestGoBlocksAreCompiledCode).
func namedTests(md string) []string {
	_, text := splitMarkdown(md)
	return testName.FindAllString(text, -1)
}

// unknownTests returns the names that no test in defined answers: an exact
// name must be defined, a "Prefix*" must match at least one.
func unknownTests(names []string, defined map[string]bool) []string {
	var unknown []string
	for _, name := range names {
		if !answered(name, defined) {
			unknown = append(unknown, name)
		}
	}
	return unknown
}

func answered(name string, defined map[string]bool) bool {
	prefix, glob := strings.CutSuffix(name, "*")
	if !glob {
		return defined[name]
	}
	for d := range defined {
		if strings.HasPrefix(d, prefix) {
			return true
		}
	}
	return false
}

// testFuncs returns the names of f's top-level functions that go test
// runs: Test, Benchmark, Fuzz and Example functions.
func testFuncs(f *ast.File) []string {
	var names []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if ok && fn.Recv == nil && testName.FindString(fn.Name.Name) == fn.Name.Name {
			names = append(names, fn.Name.Name)
		}
	}
	return names
}

// definedTests returns the top-level Test, Benchmark, Fuzz and Example
// functions of every _test.go file in the repository (bench's own module
// included).
func definedTests(t *testing.T, root string) map[string]bool {
	t.Helper()
	defined := map[string]bool{}
	fset := token.NewFileSet()
	walkRepo(t, root, "_test.go", func(rel string) {
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range testFuncs(f) {
			defined[name] = true
		}
	})
	return defined
}

// TestDocsNameOnlyExistingTests fails when a Markdown document cites a
// test that does not exist, so that "proved by TestX" cannot outlive TestX.
func TestDocsNameOnlyExistingTests(t *testing.T) {
	root := repoRoot(t)
	defined := definedTests(t, root)
	if len(defined) < 100 {
		t.Fatalf("found only %d test functions in %s: the walk is broken", len(defined), root)
	}
	cited := 0
	for _, doc := range markdownDocs(t, root) {
		md, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		names := namedTests(string(md))
		cited += len(names)
		for _, name := range unknownTests(names, defined) {
			t.Errorf("%s names %s, but no _test.go file defines it", doc, name)
		}
	}
	if cited == 0 {
		t.Fatal("no document names a test: the matcher is broken")
	}
}

func TestUnknownTestsOnAFakeDoc(t *testing.T) {
	doc := "| claim | `TestExists`, `TestPrefix_*` and `BenchmarkGone` |\n" +
		"Tests and Examples in prose are no names; `FuzzMissing*` matches nothing.\n" +
		"```go\nfunc TestInAGoBlock(t *testing.T) {}\n```\n" +
		"```sh\ngo test -run '^ExampleGone$' ./...\n```\n"
	names := namedTests(doc)
	if want := []string{"TestExists", "TestPrefix_*", "BenchmarkGone", "FuzzMissing*", "ExampleGone"}; !slices.Equal(names, want) {
		t.Fatalf("namedTests = %q, want %q", names, want)
	}
	defined := map[string]bool{"TestExists": true, "TestPrefix_One": true, "FuzzMiss": true}
	got := unknownTests(names, defined)
	if want := []string{"BenchmarkGone", "FuzzMissing*", "ExampleGone"}; !slices.Equal(got, want) {
		t.Fatalf("unknownTests = %q, want %q", got, want)
	}
}
