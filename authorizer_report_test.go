//go:build cgo

package sqliteserial

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hugeReportSchema is a view whose every use makes SQLite's authorizer report 10,000 reads
// of a pragma table (about 450 kB of records), and hugeReportQuery a short read-only SELECT
// that uses it 40 times: about 18 MB of records.
var (
	hugeReportSchema = "CREATE VIEW w AS SELECT compile_options AS r FROM pragma_compile_options" +
		" WHERE compile_options IN (" + strings.Repeat("compile_options, ", 9999) + "compile_options)"
	hugeReportQuery = "SELECT count(*) FROM (" + strings.Repeat("SELECT r FROM w UNION ALL ", 39) + "SELECT r FROM w)"
)

// TestHugeAuthorizerReportStaysARead checks that a read whose authorizer report takes
// megabytes is judged a read and cached: it runs on a reader from then on, without the
// writer, and the reader that judged it stays open.
func TestHugeAuthorizerReportStaysARead(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, hugeReportSchema)
	want := 40 * queryInt(t, db, "SELECT count(*) FROM pragma_compile_options")
	require.Equal(t, want, queryInt(t, db, hugeReportQuery)) // judged once, cached from then on
	before := stats(t, db)
	for range 2 {
		require.Equal(t, want, queryInt(t, db, hugeReportQuery))
	}
	after := stats(t, db)
	require.Equal(t, uint64(2), after.ReadRoutes-before.ReadRoutes, "a read-only SELECT runs on a reader")
	require.Equal(t, uint64(0), after.WriteRoutes-before.WriteRoutes, "a read-only SELECT does not take the writer")
	require.Equal(t, before.ReadersOpened, after.ReadersOpened, "no reader is closed and opened again for it")
}

// TestHugeAuthorizerReportKeepsTheClassifier checks the same statement judged on a
// classifier (the session has rows open on a reader): the classifier is not taken for
// broken, closed and opened again.
func TestHugeAuthorizerReportKeepsTheClassifier(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, hugeReportSchema, "CREATE TABLE t(x)", "INSERT INTO t VALUES (1)")
	c := session(t, db)
	rows, err := c.QueryContext(t.Context(), "SELECT x FROM t")
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	want := 40 * queryInt(t, c, "SELECT count(*) FROM pragma_compile_options")
	open := openPhysical.Load()
	for range 2 {
		require.Equal(t, want, queryInt(t, c, hugeReportQuery))
		require.Equal(t, open, openPhysical.Load(), "the judgement kept its classifier")
	}
}
