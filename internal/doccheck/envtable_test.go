package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/authv2/authv2"
)

// envTableHeader opens the README's table of AUTHV2_* variables.
const envTableHeader = "| variable | default | meaning |"

// envTable returns the README table's rows: variable name to its default
// cell, as written.
func envTable(t *testing.T, readme string) map[string]string {
	t.Helper()
	_, table, ok := strings.Cut(readme, envTableHeader+"\n")
	if !ok {
		t.Fatalf("README.md has no %q table", envTableHeader)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := rows[name]; dup {
			t.Errorf("README.md's configuration table lists %s twice", name)
		}
		rows[name] = strings.TrimSpace(cells[2])
	}
	return rows
}

// codeEnvVars returns the names in config.go's envVars table, the
// variables ConfigFromEnv reads, in order. It reads the source because
// the table is unexported; removedEnvVars, a map, is not included.
func codeEnvVars(t *testing.T, root string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "config.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "envVars" || len(vs.Values) != 1 {
			return true
		}
		for _, elt := range vs.Values[0].(*ast.CompositeLit).Elts {
			lit := elt.(*ast.CompositeLit).Elts[0].(*ast.BasicLit)
			name, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		return false
	})
	if len(names) == 0 {
		t.Fatal("config.go: no envVars table found")
	}
	return names
}

// envDefaultValue turns a default cell of the table into the value that,
// set in the variable, must give DefaultConfig: a literal in backquotes
// as written, or one of the words the table uses for a default that is
// not a literal.
func envDefaultValue(cell string) (string, bool) {
	if v, ok := strings.CutPrefix(cell, "`"); ok {
		if v, rest, ok := strings.Cut(v, "`"); ok && rest == "" {
			return v, true
		}
	}
	switch {
	case cell == "none":
		return "", true
	case cell == "GOMAXPROCS":
		return "0", true
	case strings.HasPrefix(cell, "`DefaultRefusedDomains()`"):
		return strings.Join(authv2.DefaultRefusedDomains(), ","), true
	}
	return "", false
}

// TestEnvTableMatchesConfig: the README's table lists exactly the
// variables ConfigFromEnv reads, and each default it shows is the
// default: setting a variable to it leaves DefaultConfig unchanged.
func TestEnvTableMatchesConfig(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := envTable(t, string(readme))
	names := codeEnvVars(t, root)
	for _, name := range names {
		if _, ok := rows[name]; !ok {
			t.Errorf("README.md's configuration table lacks %s, which ConfigFromEnv reads", name)
		}
	}
	want := authv2.DefaultConfig()
	for name, cell := range rows {
		if !slices.Contains(names, name) {
			t.Errorf("README.md's configuration table lists %s, which ConfigFromEnv does not read", name)
			continue
		}
		value, ok := envDefaultValue(cell)
		if !ok {
			t.Errorf("README.md: %s's default %s is neither a literal in backquotes nor a known word", name, cell)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			got, err := authv2.ConfigFromEnv()
			if err != nil {
				t.Fatalf("README.md's default %s=%q: %v", name, value, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("README.md's default %s=%q is not DefaultConfig's", name, value)
			}
		})
	}
}
