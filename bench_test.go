//go:build cgo

package sqliteserial

import (
	"database/sql"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// slowRead is a read that keeps one core busy for a while.
const slowRead = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c"

// BenchmarkParallelSlowReads runs as many slow reads as there are cores, at least two, first
// one after another and then all at once, and reports the time of the second as a fraction
// of the first: 1/cores when reads run fully in parallel, 1 when they are serialized.
func BenchmarkParallelSlowReads(b *testing.B) {
	n := max(2, runtime.GOMAXPROCS(0))
	db, _ := openDB(b, "")
	var serial, parallel time.Duration
	for b.Loop() {
		start := time.Now()
		for range n {
			queryInt(b, db, slowRead)
		}
		serial += time.Since(start)

		start = time.Now()
		var g errgroup.Group
		for range n {
			g.Go(func() error {
				var v int64
				return db.QueryRow(slowRead).Scan(&v)
			})
		}
		require.NoError(b, g.Wait())
		parallel += time.Since(start)
	}
	b.ReportMetric(float64(parallel)/float64(serial), "parallel/serial")
	b.ReportMetric(float64(n), "reads")
}

// benchTargets are what the per-statement benchmarks compare: bare mattn/go-sqlite3 on one
// connection (WAL, like the driver's), and the driver.
func benchTargets(b *testing.B) map[string]*sql.DB {
	dir := b.TempDir()
	plain, err := sql.Open("sqlite3", dir+"/plain.db?_journal_mode=WAL")
	require.NoError(b, err)
	plain.SetMaxOpenConns(1)
	serial, err := sql.Open(DriverName, dir+"/serial.db")
	require.NoError(b, err)
	b.Cleanup(func() { plain.Close(); serial.Close() })
	dbs := map[string]*sql.DB{"mattn": plain, "serial": serial}
	for _, db := range dbs {
		mustExec(b, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
		tx, err := db.Begin()
		require.NoError(b, err)
		for i := range 1000 {
			_, err := tx.Exec("INSERT INTO t(id, v) VALUES (?, ?)", i, "value")
			require.NoError(b, err)
		}
		require.NoError(b, tx.Commit())
	}
	return dbs
}

// BenchmarkOverhead measures each statement kind through bare mattn/go-sqlite3 on one
// connection and through the driver, alternating between the two in batches of 20 so that
// both meet the same machine state, and reports the time of one statement through each and
// the driver's time as a percentage over mattn's.
func BenchmarkOverhead(b *testing.B) {
	dbs := benchTargets(b)
	type statement func(b *testing.B, i int)
	kinds := []struct {
		name string
		prep func(b *testing.B, db *sql.DB) (statement, func())
	}{
		{"point-read", func(b *testing.B, db *sql.DB) (statement, func()) {
			return func(b *testing.B, i int) {
				var v string
				require.NoError(b, db.QueryRow("SELECT v FROM t WHERE id = ?", i%1000).Scan(&v))
			}, func() {}
		}},
		{"point-read-prepared", func(b *testing.B, db *sql.DB) (statement, func()) {
			st, err := db.Prepare("SELECT v FROM t WHERE id = ?")
			require.NoError(b, err)
			return func(b *testing.B, i int) {
				var v string
				require.NoError(b, st.QueryRow(i%1000).Scan(&v))
			}, func() { st.Close() }
		}},
		{"insert-in-tx", func(b *testing.B, db *sql.DB) (statement, func()) {
			tx, err := db.Begin()
			require.NoError(b, err)
			return func(b *testing.B, _ int) {
				_, err := tx.Exec("INSERT INTO t(v) VALUES (?)", "x")
				require.NoError(b, err)
			}, func() { tx.Rollback() }
		}},
		{"autocommit-insert", func(b *testing.B, db *sql.DB) (statement, func()) {
			return func(b *testing.B, _ int) {
				_, err := db.Exec("INSERT INTO t(v) VALUES (?)", "x")
				require.NoError(b, err)
			}, func() {}
		}},
		{"insert-returning-by-query", func(b *testing.B, db *sql.DB) (statement, func()) {
			return func(b *testing.B, _ int) {
				var id int64
				require.NoError(b, db.QueryRow("INSERT INTO t(v) VALUES (?) RETURNING id", "x").Scan(&id))
			}, func() {}
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			plain, endPlain := k.prep(b, dbs["mattn"])
			defer endPlain()
			serial, endSerial := k.prep(b, dbs["serial"])
			defer endSerial()
			var tPlain, tSerial time.Duration
			n := 0
			for b.Loop() {
				start := time.Now()
				for j := range 20 {
					plain(b, n+j)
				}
				tPlain += time.Since(start)
				start = time.Now()
				for j := range 20 {
					serial(b, n+j)
				}
				tSerial += time.Since(start)
				n += 20
			}
			b.ReportMetric(float64(tPlain.Nanoseconds())/float64(n), "mattn-ns/stmt")
			b.ReportMetric(float64(tSerial.Nanoseconds())/float64(n), "serial-ns/stmt")
			b.ReportMetric(100*(float64(tSerial)/float64(tPlain)-1), "%-over-mattn")
		})
	}
}
