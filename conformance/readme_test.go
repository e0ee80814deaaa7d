package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmeSection is the README section whose snippets the conformance tests run.
const readmeSection = "## With sqlx, gorm, sqlc, goose, golang-migrate, bun, ent"

// TestReadmeSnippetsAreRun checks that every Go snippet in the README's section on sqlx,
// gorm, sqlc, goose, golang-migrate, bun and ent is code these tests run: each of its lines (but
// comments) stands, in order, in one test file.
func TestReadmeSnippetsAreRun(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, found := strings.Cut(string(readme), readmeSection+"\n")
	require.True(t, found, "the README has the section %q", readmeSection)
	section, _, _ = strings.Cut(section, "\n## ")

	sources, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	var files [][]string
	for _, name := range sources {
		text, err := os.ReadFile(name)
		require.NoError(t, err)
		files = append(files, trimmedLines(string(text)))
	}

	snippets := strings.Split(section, "```go\n")[1:]
	require.GreaterOrEqual(t, len(snippets), 5)
	for _, snippet := range snippets {
		code, _, _ := strings.Cut(snippet, "```")
		var lines []string
		for _, line := range trimmedLines(code) {
			if !strings.HasPrefix(line, "//") {
				lines = append(lines, line)
			}
		}
		require.True(t, containsInOrder(files, lines), "this README snippet is not in the conformance tests:\n%s", code)
	}
}

// trimmedLines returns the non-empty lines of text, without surrounding white space.
func trimmedLines(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// containsInOrder reports whether one of files holds every line of lines, in that order.
func containsInOrder(files [][]string, lines []string) bool {
	for _, file := range files {
		next := 0
		for _, line := range file {
			if next < len(lines) && line == lines[next] {
				next++
			}
		}
		if next == len(lines) {
			return true
		}
	}
	return false
}

// TestCIRunsTheReadmeTestCommand checks that .ci/run runs exactly the test command the
// README opens with (its second line, without the comment).
func TestCIRunsTheReadmeTestCommand(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, block, found := strings.Cut(string(readme), "```sh\n")
	require.True(t, found, "the README opens with a sh block")
	lines := strings.Split(block, "\n")
	require.GreaterOrEqual(t, len(lines), 2)
	command, _, _ := strings.Cut(lines[1], "#")
	command = strings.TrimSpace(command)
	require.Contains(t, command, "go test")
	ci, err := os.ReadFile("../.ci/run")
	require.NoError(t, err)
	require.Contains(t, strings.Split(string(ci), "\n"), command, ".ci/run runs the README's test command as its own line")
}
