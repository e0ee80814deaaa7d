//go:build cgo

package sqliteserial

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPreparedExecOfASelectLeavesNoStaleReader checks that after a prepared SELECT run
// with Exec, the reader it ran on goes back to the pool outside the statement's read: the
// next read handed that reader sees a later write.
func TestPreparedExecOfASelectLeavesNoStaleReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, _ := openConnector(t, &Config{DSN: path, Readers: 1, ReadersMax: 1})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)")
	st, err := db.Prepare("SELECT id FROM t")
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Exec()
	require.NoError(t, err)
	mustExec(t, db, "INSERT INTO t VALUES (3)")
	require.Equal(t, int64(3), queryInt(t, db, "SELECT count(*) FROM t"), "a read after a write sees it")
}
