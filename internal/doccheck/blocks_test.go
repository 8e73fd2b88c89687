package doccheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// normalize collapses every run of white space to one space, so a block
// matches its code whatever the indentation and line breaks.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

// strayBlocks returns, for each Go block of md that appears in none of
// sources (after normalize), where it starts.
func strayBlocks(md string, sources []string) []string {
	blocks, _ := splitMarkdown(md)
	var stray []string
	for _, b := range blocks {
		if b.lang != "go" {
			continue
		}
		code := normalize(b.code)
		found := false
		for _, src := range sources {
			found = found || strings.Contains(normalize(src), code)
		}
		if !found {
			stray = append(stray, fmt.Sprintf("line %d", b.line))
		}
	}
	return stray
}

// snippetSources returns this package's test files that keep the
// documents' blocks.
func snippetSources(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*_snippets_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("doccheck: no snippet files (%v)", err)
	}
	var sources []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	return sources
}

// TestGoBlocksAreCompiledCode fails when a Go block of a Markdown document
// is not, verbatim but for white space, code of this package's
// *_snippets_test.go files: those compile (and run, where they can, as
// examples), so a block that drifts from the API fails here.
func TestGoBlocksAreCompiledCode(t *testing.T) {
	root := repoRoot(t)
	sources := snippetSources(t)
	checked := 0
	for _, doc := range markdownDocs(t, root) {
		md, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, where := range strayBlocks(string(md), sources) {
			t.Errorf("%s: the Go block at %s is not in internal/doccheck/*_snippets_test.go; put it there so it compiles", doc, where)
		}
		blocks, _ := splitMarkdown(string(md))
		for _, b := range blocks {
			if b.lang == "go" {
				checked++
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d Go blocks found: the fence parser is broken", checked)
	}
}

func TestStrayBlocksOnAFakeDoc(t *testing.T) {
	src := "func f() error {\n\tm, err := authv2.New()\n\tif err != nil {\n\t\treturn err\n\t}\n\treturn m.Close(ctx)\n}\n"
	doc := "Intro.\n\n```go\nm, err := authv2.New()\nif err != nil { return err }\n```\n\n" +
		"```sh\nnot go\n```\n\n```go\nm, err := authv2.New(authv2.WithDrift())\n```\n"
	got := strayBlocks(doc, []string{src})
	if len(got) != 1 || got[0] != "line 12" {
		t.Fatalf("strayBlocks = %q, want [line 12]", got)
	}
	if got := strayBlocks("```go\nreturn m.Close(ctx)\n}\n```\n", []string{src}); len(got) != 0 {
		t.Fatalf("a block in the source is reported: %q", got)
	}
}
