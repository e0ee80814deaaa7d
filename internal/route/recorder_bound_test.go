//go:build cgo

package route

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// wideView is a view whose every use makes SQLite's authorizer report 10,000 reads of a
// pragma table, about 450 kB of records.
var wideView = "CREATE VIEW w AS SELECT compile_options AS r FROM pragma_compile_options WHERE compile_options IN (" +
	strings.Repeat("compile_options, ", 9999) + "compile_options)"

// usesOfWideView is a read-only SELECT that uses the view n times.
func usesOfWideView(n int) string {
	return "SELECT count(*) FROM (" + strings.Repeat("SELECT r FROM w UNION ALL ", n-1) + "SELECT r FROM w)"
}

// wideViewJudge returns a judge on a database with the wide view.
func wideViewJudge(t *testing.T) *judge {
	path := t.TempDir() + "/w.db"
	openAt(t, path, wideView)
	return newJudge(t, path)
}

// TestRecorderJudgesAHugeReport judges a read whose report takes about 18 MB (40 uses of
// the view): it is a read, as a Go authorizer judges it, prepared once, and the connection
// that judged it is not broken.
func TestRecorderJudgesAHugeReport(t *testing.T) {
	j := wideViewJudge(t)
	cls, statements := JudgeWords(usesOfWideView(40))
	broken := j.rec.Judge(j.conn, cls, statements)
	require.False(t, broken, "the connection did not break")
	require.True(t, cls.Known, "SQLite prepared the statement")
	require.Equal(t, Reader, cls.Route)
}

// TestRecorderGivesBackALargeLog checks that after a judgement whose report took
// megabytes (10 uses of the view, about 4.5 MB), the recorder gives the memory back rather
// than keep it for the life of its connection.
func TestRecorderGivesBackALargeLog(t *testing.T) {
	j := wideViewJudge(t)
	cls := j.of(t, usesOfWideView(10))
	require.True(t, cls.Known)
	require.LessOrEqual(t, int(j.rec.log.cap), recorderLogKeep, "the log is given back once the judgement is made")
}
