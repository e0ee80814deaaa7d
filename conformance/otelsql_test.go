package conformance

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/XSAM/otelsql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	sqliteserial "github.com/sqlite-serial/sqlite-serial"
	"github.com/sqlite-serial/sqlite-serial/metrics"
)

// TestOtelsqlWrapped opens the driver through otelsql, as production services wrap
// drivers: queries and transactions work, StatsOf and the Prometheus collector read the
// driver's figures through the wrapper, and Close through it checkpoints the WAL and closes
// every connection, so that plain mattn can then take the file in exclusive mode at once.
func TestOtelsqlWrapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	db, err := otelsql.Open("sqlite-serial", path)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE t(v INTEGER)")
	require.NoError(t, err)
	tx, err := db.Begin()
	require.NoError(t, err)
	for i := range 5 {
		_, err := tx.Exec("INSERT INTO t VALUES (?)", i)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 5, n)

	s, err := sqliteserial.StatsOf(db)
	require.NoError(t, err, "StatsOf through otelsql")
	require.Equal(t, uint64(2), s.WriterUnits, "the CREATE TABLE and the transaction")
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(metrics.NewCollector(db, "app"))
	require.Equal(t, 2.0, gathered(t, registry, "sqlite_serial_writer_units_total"))

	info, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	require.Positive(t, info.Size())
	require.NoError(t, db.Close())
	if info, err := os.Stat(path + "-wal"); err == nil {
		require.Zero(t, info.Size(), "Close through otelsql checkpointed the WAL")
	}
	plain, err := sql.Open("sqlite3", path+"?_busy_timeout=0&_locking_mode=EXCLUSIVE")
	require.NoError(t, err)
	defer plain.Close()
	_, err = plain.Exec("BEGIN EXCLUSIVE; COMMIT")
	require.NoError(t, err, "no connection of the driver is left open on the file")
}

// gathered returns the value of the one counter named name that registry gathers.
func gathered(t *testing.T, registry *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			require.Len(t, f.Metric, 1)
			return f.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s is not gathered", name)
	return 0
}
