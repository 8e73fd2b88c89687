package doccheck

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoRoot returns the module root: tests run in their package's
// directory, internal/doccheck.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("doccheck: no go.mod at the module root: %v", err)
	}
	return root
}

// walkRepo calls fn with the path (relative to root, slash-separated) of
// every file below root whose name ends in suffix, skipping hidden
// directories and testdata.
func walkRepo(t *testing.T, root, suffix string, fn func(rel string)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), suffix) {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			fn(filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// markdownDocs returns the repository's Markdown documents (relative
// paths) but CHANGELOG.md, whose entries record what was true then.
func markdownDocs(t *testing.T, root string) []string {
	t.Helper()
	var docs []string
	walkRepo(t, root, ".md", func(rel string) {
		if rel != "CHANGELOG.md" {
			docs = append(docs, rel)
		}
	})
	if !slices.Contains(docs, "README.md") || !slices.Contains(docs, "docs/SECURITY.md") {
		t.Fatalf("doccheck: README.md or docs/SECURITY.md not found among %v", docs)
	}
	return docs
}

// block is one fenced code block of a Markdown document.
type block struct {
	lang string // the info string after the opening fence, e.g. "go"
	line int    // the line of the opening fence, from 1
	code string
}

// splitMarkdown returns the document's fenced code blocks, and its text
// outside Go blocks (prose, inline code and blocks of other languages).
func splitMarkdown(md string) (blocks []block, outsideGo string) {
	var out strings.Builder
	var cur *block
	var code strings.Builder
	sc := bufio.NewScanner(strings.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		switch {
		case cur == nil && fence:
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "```")), line: n}
			code.Reset()
		case cur != nil && fence:
			cur.code = code.String()
			blocks = append(blocks, *cur)
			cur = nil
			continue
		case cur != nil:
			code.WriteString(line)
			code.WriteByte('\n')
		}
		if cur == nil || cur.lang != "go" {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	return blocks, out.String()
}
