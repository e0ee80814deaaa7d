package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// TestMattnSuite runs mattn/go-sqlite3's own database/sql tests against sqlite-serial and
// requires every test that passes with "sqlite3" to pass with "sqlite-serial" too, and to
// take at most a second longer.
//
// It takes the tests from the module cache (the mattn version this module uses), retargets
// the driver name in a scratch copy, builds the copy's test binary once, and runs each test
// in its own process, once per driver name.
//
// The scratch copy is a module of its own (mattnSuiteModulePath) that replaces
// github.com/mattn/go-sqlite3 with a copy of mattn's directory and
// github.com/sqlite-serial/sqlite-serial with the driver this module uses. In the copy:
//
//   - the test files stay in package sqlite3, since they use its unexported identifiers;
//     every sql.Open whose driver name is "sqlite3" (a literal, or the package's
//     driverName variable) opens mattnsuiteDriver instead, a variable of a generated test
//     file set from $MATTNSUITE_DRIVER ("sqlite3" when unset);
//   - a generated file of the external test package (package sqlite3_test) imports the
//     driver for its registration. An external test package may import a package that
//     imports the package under test, so there is no import cycle, and the driver is built
//     against the same copy of mattn: the binary holds one mattn and one SQLite, and the
//     driver's errors are the tests' sqlite3.Error.
//
// The tests run are the Test functions of the test files built by default that open such
// a database, directly or through the test files' helpers. Each runs in its own process
// (with a TMPDIR of its own), first with "sqlite3" and then with "sqlite-serial", so that
// the durations compare alike. A test that fails or skips itself with "sqlite3", or passes
// with "sqlite3" and skips itself with "sqlite-serial", is not compared. A test that
// is more than a second slower with "sqlite-serial" is run twice more on both names, and
// the fastest runs are compared; if it is still slower, it runs four times more with mattn in
// WAL mode (every connection switched by a ConnectHook), in turns with the driver, and it
// passes when its fastest run is at most a second slower than mattn's fastest in WAL mode:
// the cost is WAL's own (the README's wal difference).
//
// It skips only when the mattn module's source is not in the module cache.
func TestMattnSuite(t *testing.T) {
	goCmd := mattnSuiteGoCommand(t)
	mattn, err := mattnSuiteListModule(goCmd, "github.com/mattn/go-sqlite3")
	if err != nil || mattn.Dir == "" {
		t.Skipf("the source of github.com/mattn/go-sqlite3 is not available (go list -m: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(mattn.Dir, "sqlite3.go")); err != nil {
		t.Skipf("the source of github.com/mattn/go-sqlite3@%s is not available: %v", mattn.Version, err)
	}
	driver, err := mattnSuiteListModule(goCmd, "github.com/sqlite-serial/sqlite-serial")
	if err != nil || driver.Dir == "" {
		t.Fatalf("cannot find the driver's module: %v", err)
	}

	work := t.TempDir()
	suite, err := mattnSuitePrepare(mattn, driver.Dir, work)
	if err != nil {
		t.Fatal(err)
	}
	if len(suite.tests) == 0 {
		t.Fatalf("no test of mattn/go-sqlite3@%s opens a database named \"sqlite3\": the runner no longer understands its tests", mattn.Version)
	}
	t.Logf("mattn/go-sqlite3@%s from %s: %d sql.Open calls retargeted, %d tests selected",
		mattn.Version, mattn.Dir, suite.retargeted, len(suite.tests))

	start := time.Now()
	bin := filepath.Join(work, "mattn.test")
	build := exec.Command(goCmd, "test", "-c", "-vet=off", "-trimpath", "-o", bin, mattnSuiteMattnPath)
	build.Dir = work
	build.Env = mattnSuiteEnv(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the scratch copy of mattn's tests: %v\n%s", err, out)
	}
	t.Logf("built the scratch test binary in %v", time.Since(start).Round(100*time.Millisecond))

	listed, err := mattnSuiteListTests(bin, suite.pkgDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range suite.tests {
		if !listed[name] {
			t.Fatalf("the scratch test binary has no test %s", name)
		}
	}

	runner := &mattnSuiteRunner{bin: bin, dir: suite.pkgDir, tmp: filepath.Join(work, "tmp")}
	var rows []mattnSuiteRow
	for _, name := range suite.tests {
		row := mattnSuiteRow{name: name}
		row.plain = runner.run(name, "sqlite3")
		row.serial = runner.run(name, "sqlite-serial")
		if row.plain.status == "pass" && row.serial.status == "pass" && row.slower() {
			for range 2 {
				p, s := runner.run(name, "sqlite3"), runner.run(name, "sqlite-serial")
				if p.status == "pass" && p.dur < row.plain.dur {
					row.plain.dur = p.dur
				}
				if s.status == "pass" && s.dur < row.serial.dur {
					row.serial.dur = s.dur
				}
				row.reruns++
			}
		}
		if row.plain.status == "pass" && row.serial.status == "pass" && row.slower() {
			// Is it WAL itself? The driver switches the file to WAL (the README's wal
			// difference), which mattn in WAL mode pays as well. Such a test's time is the
			// file system's (it creates and removes the WAL's files), which varies from run
			// to run: the two are run in turns, and the fastest runs compared.
			for range mattnSuiteWALRuns {
				if w := runner.run(name, mattnSuiteWALDriver); w.status == "pass" && (row.wal.status != "pass" || w.dur < row.wal.dur) {
					row.wal = w
				}
				if s := runner.run(name, "sqlite-serial"); s.status == "pass" && s.dur < row.serial.dur {
					row.serial.dur = s.dur
				}
			}
		}
		rows = append(rows, row)
	}

	table := mattnSuiteTable(rows)
	t.Logf("mattn/go-sqlite3@%s tests, each in its own process:\n%s", mattn.Version, table)
	if path := os.Getenv("MATTNSUITE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Errorf("writing $MATTNSUITE_REPORT: %v", err)
		}
	}
	passedBoth := 0
	for _, row := range rows {
		known, isKnown := mattnSuiteKnown[row.name]
		differs := row.plain.status == "pass" && (row.serial.status != "pass" && row.serial.status != "skip" || row.slower())
		switch {
		case isKnown && differs:
			t.Logf("%s: known difference (%s)", row.name, known)
			continue
		case isKnown && row.plain.status == "pass":
			t.Errorf("%s is listed in mattnSuiteKnown (%s) but now passes as with \"sqlite3\": take it off the list", row.name, known)
			continue
		}
		switch {
		case row.plain.status != "pass":
			t.Logf("%s %s with \"sqlite3\", so it is not compared:\n%s", row.name, mattnSuiteVerb[row.plain.status], mattnSuiteTail(row.plain.output))
		case row.serial.status == "skip":
			// The test judged itself meaningless with the driver (mattn's cancellation
			// tests skip when their setup is too fast to race a cancellation against).
			t.Logf("%s passes with \"sqlite3\" and skips itself with \"sqlite-serial\", so it is not compared:\n%s", row.name, mattnSuiteTail(row.serial.output))
		case row.serial.status != "pass":
			t.Errorf("%s passes with \"sqlite3\" and %s with \"sqlite-serial\":\n%s", row.name, mattnSuiteVerb[row.serial.status], mattnSuiteTail(row.serial.output))
		case row.slower() && row.walExplains():
			t.Logf("%s takes %v with \"sqlite-serial\", %v with \"sqlite3\" and %v with \"sqlite3\" in WAL mode: WAL's own cost (the wal difference)",
				row.name, row.serial.dur.Round(time.Millisecond), row.plain.dur.Round(time.Millisecond), row.wal.dur.Round(time.Millisecond))
			passedBoth++
		case row.slower():
			t.Errorf("%s takes %v with \"sqlite-serial\", %v with \"sqlite3\" (fastest of %d runs each) and %v with \"sqlite3\" in WAL mode: more than %v longer",
				row.name, row.serial.dur.Round(time.Millisecond), row.plain.dur.Round(time.Millisecond), row.reruns+1, row.wal.dur.Round(time.Millisecond), mattnSuiteSlack)
		default:
			passedBoth++
		}
	}
	t.Logf("%d of %d tests pass with \"sqlite-serial\" as with \"sqlite3\"", passedBoth, len(rows))
}

// mattnSuiteKnown are the tests of mattn's suite that the driver does not pass yet, with why.
// The suite fails when one of them passes (the list must shrink) and when any other test
// fails or is more than a second slower.
var mattnSuiteKnown = map[string]string{
	"TestDatabaseSQLRowsContextCancelAndReuse": "sql.Conn.Raw hands the driver's connection, not a *sqlite3.SQLiteConn",
	"TestBeginTxCancel":                        "sql.Conn.Raw hands the driver's connection, not a *sqlite3.SQLiteConn",
	"TestStmtReadonly":                         "sql.Conn.Raw hands the driver's connection, not a *sqlite3.SQLiteConn",
	"TestSerializeDeserialize":                 "sql.Conn.Raw hands the driver's connection, not a *sqlite3.SQLiteConn",
}

const (
	// mattnSuiteModulePath is the module path of the scratch module.
	mattnSuiteModulePath = "mattnsuite"
	mattnSuiteMattnPath  = "github.com/mattn/go-sqlite3"
	mattnSuiteDriverPath = "github.com/sqlite-serial/sqlite-serial"
	// mattnSuiteDriverVar is the variable the retargeted sql.Open calls open.
	mattnSuiteDriverVar = "mattnsuiteDriver"
	// mattnSuiteWALDriver is the name the scratch copy registers mattn under with every
	// connection switched to WAL, the baseline of the README's wal difference.
	mattnSuiteWALDriver = "sqlite3-wal"
	// mattnSuiteWALRuns is how many times a test slower than with "sqlite3" runs with mattn
	// in WAL mode, each time beside one more run with the driver.
	mattnSuiteWALRuns = 4
	// mattnSuiteSlack is how much longer than with "sqlite3" a test may take.
	mattnSuiteSlack = time.Second
	// mattnSuiteTestTimeout is the -test.timeout of each process; the process is killed
	// mattnSuiteKillAfter later.
	mattnSuiteTestTimeout = 90 * time.Second
	mattnSuiteKillAfter   = 30 * time.Second
)

// mattnSuiteGoCommand returns the go command of the toolchain running the tests.
func mattnSuiteGoCommand(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on $PATH or in GOROOT: %v", err)
	}
	return p
}

type mattnSuiteModule struct {
	Path    string
	Version string
	Dir     string
}

// mattnSuiteListModule runs go list -m -json path in this module.
func mattnSuiteListModule(goCmd, path string) (mattnSuiteModule, error) {
	var m mattnSuiteModule
	cmd := exec.Command(goCmd, "list", "-m", "-json", path)
	cmd.Env = mattnSuiteEnv(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return m, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return m, err
	}
	return m, nil
}

// mattnSuiteEnv returns env with the given KEY=value settings replacing any earlier ones.
func mattnSuiteEnv(env []string, set ...string) []string {
	out := slices.Clone(env)
	for _, kv := range set {
		key := kv[:strings.IndexByte(kv, '=')+1]
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, key) })
		out = append(out, kv)
	}
	return out
}

type mattnSuite struct {
	pkgDir     string   // the scratch copy of mattn's package
	tests      []string // the tests to run, in source order
	retargeted int      // the sql.Open calls retargeted
}

// mattnSuitePrepare writes the scratch module into work: go.mod and go.sum, and the copy of
// mattn's package (mattn.Dir) in work/mattn, with its test files retargeted.
func mattnSuitePrepare(mattn mattnSuiteModule, driverDir, work string) (*mattnSuite, error) {
	mattnDir := mattn.Dir
	s := &mattnSuite{pkgDir: filepath.Join(work, "mattn")}
	if err := os.MkdirAll(s.pkgDir, 0o755); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(mattnDir)
	if err != nil {
		return nil, err
	}
	// The names that hold "sqlite3" in the package's own (non-test) files, such as its
	// driverName variable: sql.Open(driverName, ...) in a test opens "sqlite3" too.
	aliases := map[string]bool{}
	fset := token.NewFileSet()
	var tests []*mattnSuiteFile
	ctx := build.Default
	ctx.CgoEnabled = true // the binary is built with CGO_ENABLED=1
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue // _example, upgrade: other packages
		}
		name := e.Name()
		src, err := os.ReadFile(filepath.Join(mattnDir, name))
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(name, ".go") {
			if err := os.WriteFile(filepath.Join(s.pkgDir, name), src, 0o644); err != nil {
				return nil, err
			}
			continue
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		matched, err := ctx.MatchFile(mattnDir, name)
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(name, "_test.go") {
			if matched {
				mattnSuiteAliases(f, aliases)
			}
			if err := os.WriteFile(filepath.Join(s.pkgDir, name), src, 0o644); err != nil {
				return nil, err
			}
			continue
		}
		if f.Name.Name != "sqlite3" {
			return nil, fmt.Errorf("%s: package %s, want the internal test package sqlite3", name, f.Name.Name)
		}
		tests = append(tests, &mattnSuiteFile{name: name, src: src, matched: matched})
	}
	if len(aliases) == 0 {
		aliases = nil
	}

	// Parse the test files again with object resolution, which tells the package's
	// driverName from a test's local variable of that name.
	var graph mattnSuiteGraph
	graph.init()
	for _, tf := range tests {
		f, err := parser.ParseFile(fset, tf.name, tf.src, 0)
		if err != nil {
			return nil, err
		}
		tf.file = f
		tf.tokFile = fset.File(f.Pos())
		tf.edits = mattnSuiteRetarget(f, tf.tokFile, aliases)
		s.retargeted += len(tf.edits)
		if tf.matched {
			graph.add(f, tf.tokFile, tf.edits)
		}
		out := mattnSuiteApply(tf.src, tf.edits)
		if err := os.WriteFile(filepath.Join(s.pkgDir, tf.name), out, 0o644); err != nil {
			return nil, err
		}
	}
	s.tests = graph.selected()

	generated := map[string]string{
		"zz_mattnsuite_driver_test.go": `// Code generated by TestMattnSuite. DO NOT EDIT.

package sqlite3

import (
	"database/sql"
	"os"
)

// ` + mattnSuiteDriverVar + ` is the driver name the retargeted sql.Open calls open.
var ` + mattnSuiteDriverVar + ` = func() string {
	if name := os.Getenv("MATTNSUITE_DRIVER"); name != "" {
		return name
	}
	return "sqlite3"
}()

// ` + mattnSuiteWALDriver + ` is mattn with every connection in WAL mode.
func init() {
	sql.Register("` + mattnSuiteWALDriver + `", &SQLiteDriver{ConnectHook: func(c *SQLiteConn) error {
		_, err := c.Exec("PRAGMA journal_mode = WAL", nil)
		return err
	}})
}
`,
		"zz_mattnsuite_register_test.go": `// Code generated by TestMattnSuite. DO NOT EDIT.

// The external test package imports the driver for its registration: it may import a
// package that imports the package under test, where the internal test files may not.
package sqlite3_test

import _ "` + mattnSuiteDriverPath + `"
`,
	}
	for name, src := range generated {
		if _, err := os.Stat(filepath.Join(mattnDir, name)); err == nil {
			return nil, fmt.Errorf("mattn's package has a file %s", name)
		}
		if err := os.WriteFile(filepath.Join(s.pkgDir, name), []byte(src), 0o644); err != nil {
			return nil, err
		}
	}

	goLine, err := mattnSuiteGoLines("go.mod")
	if err != nil {
		return nil, err
	}
	gomod := fmt.Sprintf(`module %s

%s

require (
	%s %s
	%s v0.0.0-00010101000000-000000000000
)

replace %s => %s

replace %s => %s
`, mattnSuiteModulePath, goLine, mattnSuiteMattnPath, mattn.Version, mattnSuiteDriverPath,
		mattnSuiteMattnPath, "./mattn", mattnSuiteDriverPath, strconv.Quote(driverDir))
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, err
	}
	// The sums of the modules the driver needs: this module's and the driver's.
	var sums []string
	seen := map[string]bool{}
	for _, p := range []string{"go.sum", filepath.Join(driverDir, "go.sum")} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			line = strings.TrimSpace(line)
			if line != "" && !seen[line] {
				seen[line] = true
				sums = append(sums, line)
			}
		}
	}
	sort.Strings(sums)
	if err := os.WriteFile(filepath.Join(work, "go.sum"), []byte(strings.Join(sums, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return s, nil
}

// mattnSuiteGoLines returns the go (and toolchain) lines of a go.mod file.
func mattnSuiteGoLines(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "go ") || strings.HasPrefix(line, "toolchain ") {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%s has no go line", path)
	}
	return strings.Join(lines, "\n"), nil
}

// mattnSuiteAliases adds to aliases the package-level variables and constants of f whose
// value is the string "sqlite3".
func mattnSuiteAliases(f *ast.File, aliases map[string]bool) {
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || (gd.Tok != token.VAR && gd.Tok != token.CONST) {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) && mattnSuiteIsSQLite3(vs.Values[i]) {
					aliases[n.Name] = true
				}
			}
		}
	}
}

func mattnSuiteIsSQLite3(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return false
	}
	s, err := strconv.Unquote(lit.Value)
	return err == nil && s == "sqlite3"
}

type mattnSuiteFile struct {
	name    string
	src     []byte
	matched bool // built by default
	file    *ast.File
	tokFile *token.File
	edits   []mattnSuiteEdit
}

// mattnSuiteEdit replaces src[start:end] with the driver variable.
type mattnSuiteEdit struct{ start, end int }

// mattnSuiteRetarget finds the sql.Open calls of f (parsed with object resolution) whose
// driver name is "sqlite3": the literal, or a package-level alias of it not shadowed in f.
func mattnSuiteRetarget(f *ast.File, tf *token.File, aliases map[string]bool) []mattnSuiteEdit {
	sqlName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "database/sql" {
			sqlName = "sql"
			if imp.Name != nil {
				sqlName = imp.Name.Name
			}
		}
	}
	if sqlName == "" || sqlName == "_" {
		return nil
	}
	var edits []mattnSuiteEdit
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Open" {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != sqlName || x.Obj != nil {
			return true // not the package database/sql, or shadowed by a local
		}
		arg := call.Args[0]
		switch a := arg.(type) {
		case *ast.BasicLit:
			if !mattnSuiteIsSQLite3(a) {
				return true
			}
		case *ast.Ident:
			// Obj is nil for a name declared in another file of the package, here the
			// non-test files (the test files declare no such name at package level).
			if !aliases[a.Name] || a.Obj != nil {
				return true
			}
		default:
			return true
		}
		edits = append(edits, mattnSuiteEdit{tf.Offset(arg.Pos()), tf.Offset(arg.End())})
		return true
	})
	return edits
}

func mattnSuiteApply(src []byte, edits []mattnSuiteEdit) []byte {
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var out []byte
	last := 0
	for _, e := range edits {
		out = append(out, src[last:e.start]...)
		out = append(out, mattnSuiteDriverVar...)
		last = e.end
	}
	return append(out, src[last:]...)
}

// mattnSuiteGraph tells which tests open a retargeted database: the package-level functions,
// methods and variables of the test files, each with the names it refers to, closed over
// by name (methods and functions of one name are one node, which errs on selecting more).
type mattnSuiteGraph struct {
	refs  map[string]map[string]bool
	opens map[string]bool
	tests []string
}

func (g *mattnSuiteGraph) init() {
	g.refs = map[string]map[string]bool{}
	g.opens = map[string]bool{}
}

func (g *mattnSuiteGraph) add(f *ast.File, tf *token.File, edits []mattnSuiteEdit) {
	inEdit := func(n ast.Node) bool {
		start, end := tf.Offset(n.Pos()), tf.Offset(n.End())
		for _, e := range edits {
			if e.start >= start && e.end <= end {
				return true
			}
		}
		return false
	}
	node := func(name string, body ast.Node) {
		if body == nil {
			return
		}
		refs := g.refs[name]
		if refs == nil {
			refs = map[string]bool{}
			g.refs[name] = refs
		}
		ast.Inspect(body, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				refs[id.Name] = true
			}
			return true
		})
		if inEdit(body) {
			g.opens[name] = true
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Body == nil {
				continue
			}
			node(d.Name.Name, d.Body)
			if d.Recv == nil && mattnSuiteIsTest(d) {
				g.tests = append(g.tests, d.Name.Name)
			}
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, spec := range d.Specs {
				vs := spec.(*ast.ValueSpec)
				for _, n := range vs.Names {
					for _, v := range vs.Values {
						node(n.Name, v)
					}
				}
			}
		}
	}
}

// selected returns the tests that reach a retargeted sql.Open.
func (g *mattnSuiteGraph) selected() []string {
	for changed := true; changed; {
		changed = false
		for name, refs := range g.refs {
			if g.opens[name] {
				continue
			}
			for ref := range refs {
				if g.opens[ref] {
					g.opens[name] = true
					changed = true
					break
				}
			}
		}
	}
	var out []string
	for _, name := range g.tests {
		if g.opens[name] {
			out = append(out, name)
		}
	}
	return out
}

// mattnSuiteIsTest reports whether d is a test function as go test sees one.
func mattnSuiteIsTest(d *ast.FuncDecl) bool {
	name := d.Name.Name
	if !strings.HasPrefix(name, "Test") || name == "TestMain" {
		return false
	}
	if rest := name[len("Test"):]; rest != "" {
		r, _ := utf8.DecodeRuneInString(rest)
		if unicode.IsLower(r) {
			return false
		}
	}
	params := d.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

// mattnSuiteListTests returns the tests the binary holds.
func mattnSuiteListTests(bin, dir string) (map[string]bool, error) {
	cmd := exec.Command(bin, "-test.list", "^Test")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s -test.list: %v", bin, err)
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		listed[strings.TrimSpace(sc.Text())] = true
	}
	return listed, nil
}

type mattnSuiteRunner struct {
	bin, dir, tmp string
	n             int
}

type mattnSuiteResult struct {
	status string // pass, fail, skip or timeout
	dur    time.Duration
	output string
}

// run runs one test in a process of its own with the given driver name.
func (r *mattnSuiteRunner) run(name, driverName string) mattnSuiteResult {
	r.n++
	tmp := filepath.Join(r.tmp, strconv.Itoa(r.n))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return mattnSuiteResult{status: "fail", output: err.Error()}
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), mattnSuiteTestTimeout+mattnSuiteKillAfter)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, "-test.run", "^"+regexp.QuoteMeta(name)+"$",
		"-test.count=1", "-test.v", "-test.timeout", mattnSuiteTestTimeout.String())
	cmd.Dir = r.dir
	cmd.Env = mattnSuiteEnv(os.Environ(), "MATTNSUITE_DRIVER="+driverName, "TMPDIR="+tmp)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	res := mattnSuiteResult{dur: time.Since(start), output: out.String()}
	switch {
	case ctx.Err() != nil || strings.Contains(res.output, "panic: test timed out"):
		res.status = "timeout"
	case err != nil:
		res.status = "fail"
	case strings.Contains(res.output, "--- SKIP: "+name+" "):
		res.status = "skip"
	case strings.Contains(res.output, "--- PASS: "+name+" "):
		res.status = "pass"
	default:
		res.status = "fail" // the test did not run
	}
	if err != nil {
		res.output += "\n(" + err.Error() + ")"
	}
	return res
}

var mattnSuiteVerb = map[string]string{"fail": "fails", "skip": "skips itself", "timeout": "times out"}

type mattnSuiteRow struct {
	name          string
	plain, serial mattnSuiteResult
	reruns        int
	// wal is the fastest of mattnSuiteWALRuns runs with mattn in WAL mode, for a test that
	// is slower with the driver.
	wal mattnSuiteResult
}

func (r mattnSuiteRow) slower() bool { return r.serial.dur > r.plain.dur+mattnSuiteSlack }

// walExplains reports whether the test takes at most mattnSuiteSlack longer with the driver
// than with mattn in WAL mode, or a quarter longer when that is more: its slowdown is WAL's.
// A test that takes seconds in WAL mode (TestStress opens and closes a *sql.DB 10,000
// times) costs the driver a share of its time, its own connection setup, which grows with
// the machine's speed: a second on a slow day.
func (r mattnSuiteRow) walExplains() bool {
	return r.wal.status == "pass" && r.serial.dur <= r.wal.dur+max(mattnSuiteSlack, r.wal.dur*3/10)
}

func mattnSuiteTable(rows []mattnSuiteRow) string {
	var b strings.Builder
	b.WriteString("| test | sqlite3 | sqlite-serial | sqlite3 time | sqlite-serial time | verdict |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		verdict := "ok"
		switch {
		case r.plain.status != "pass":
			verdict = "not compared"
		case r.serial.status == "skip":
			verdict = "not compared (skips itself on sqlite-serial)"
		case r.serial.status != "pass":
			verdict = "FAILS on sqlite-serial"
		case r.slower() && r.walExplains():
			verdict = fmt.Sprintf("ok against sqlite3 in WAL mode (%v): the wal difference", r.wal.dur.Round(time.Millisecond))
		case r.slower():
			verdict = fmt.Sprintf("SLOWER by %v", (r.serial.dur - r.plain.dur).Round(10*time.Millisecond))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %v | %v | %s |\n", r.name, r.plain.status, r.serial.status,
			r.plain.dur.Round(time.Millisecond), r.serial.dur.Round(time.Millisecond), verdict)
	}
	return b.String()
}

// mattnSuiteTail returns the end of a test's output, at most 60 lines.
func mattnSuiteTail(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 60 {
		lines = append([]string{"..."}, lines[len(lines)-60:]...)
	}
	return "\t" + strings.Join(lines, "\n\t")
}
