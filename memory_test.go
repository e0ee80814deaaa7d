//go:build cgo

package sqliteserial

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// memoryDSNs are the DSNs that name an in-memory database.
var memoryDSNs = []string{
	":memory:",
	"file::memory:",
	"file::memory:?cache=shared",
	"file:named?mode=memory&cache=shared",
	":memory:?_fk=1",
}

func openMemory(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(DriverName, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMemoryDatabaseIsSharedByItsConnections checks that the writer's table is there for
// 16 concurrent readers right after it was created.
func TestMemoryDatabaseIsSharedByItsConnections(t *testing.T) {
	for _, dsn := range memoryDSNs {
		t.Run(dsn, func(t *testing.T) {
			db := openMemory(t, dsn)
			mustExec(t, db, "CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES (1), (2), (3)")
			for _, n := range concurrentReads(t, db, 16, "SELECT count(*) FROM t") {
				require.EqualValues(t, 3, n)
			}
			require.NotZero(t, stats(t, db).ReadRoutes, "the reads ran on readers")
		})
	}
}

// TestMemoryDatabasesAreSeparate checks that each *sql.DB has its own in-memory database,
// shared cache or not.
func TestMemoryDatabasesAreSeparate(t *testing.T) {
	for _, dsn := range memoryDSNs {
		a, b := openMemory(t, dsn), openMemory(t, dsn)
		mustExec(t, a, "CREATE TABLE only_in_a(v)")
		_, err := b.Exec("INSERT INTO only_in_a VALUES (1)")
		require.ErrorContains(t, err, "no such table", dsn)
		mustExec(t, b, "CREATE TABLE only_in_a(v)")
	}
}

// TestMemoryDatabaseUnderConcurrency runs writes, transactions and reads at once on an
// in-memory database, which has no WAL: no "table is locked", "database is locked" or
// "no such table" may reach the caller, and nothing may be lost.
func TestMemoryDatabaseUnderConcurrency(t *testing.T) {
	db := openMemory(t, ":memory:?_busy_timeout=0")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	concurrentWritesAndReads(t, db, 8, 25)

	var g errgroup.Group
	for range 8 {
		g.Go(func() error {
			for range 10 {
				tx, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					return err
				}
				var n int
				err = tx.QueryRow("SELECT count(*) FROM t").Scan(&n)
				if rerr := tx.Rollback(); err == nil {
					err = rerr
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		g.Go(func() error {
			for range 10 {
				tx, err := db.Begin()
				if err != nil {
					return err
				}
				if _, err := tx.Exec("INSERT INTO t VALUES (0)"); err != nil {
					tx.Rollback()
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	require.EqualValues(t, 8*25+8*10, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestReadOnlyDatabase checks mode=ro and immutable=1: no writer is opened, reads are
// pooled, writes fail at once with SQLite's read-only error.
func TestReadOnlyDatabase(t *testing.T) {
	path := t.TempDir() + "/ro.db"
	rw, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	mustExec(t, rw, "CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES (1), (2)")
	require.NoError(t, rw.Close())
	info, err := os.Stat(path)
	require.NoError(t, err)

	for _, query := range []string{"mode=ro", "immutable=1", "mode=ro&_serial_write_wait=50ms"} {
		t.Run(query, func(t *testing.T) {
			db, err := sql.Open(DriverName, "file:"+path+"?"+query)
			require.NoError(t, err)
			defer db.Close()
			require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"))

			for _, write := range []string{"INSERT INTO t VALUES (3)", "CREATE TABLE u(v)", "DELETE FROM t"} {
				_, err := db.Exec(write)
				var e sqlite3.Error
				require.ErrorAs(t, err, &e, write)
				require.Equal(t, sqlite3.ErrReadonly, e.Code, write)
			}
			tx, err := db.Begin()
			require.NoError(t, err, "a transaction on a read-only database reads")
			require.EqualValues(t, 2, queryInt(t, tx, "SELECT count(*) FROM t"))
			_, err = tx.Exec("INSERT INTO t VALUES (3)")
			require.Error(t, err)
			require.NoError(t, tx.Rollback())

			c, err := db.Conn(background)
			require.NoError(t, err)
			mustExec(t, c, "CREATE TEMP TABLE scratch(x)", "INSERT INTO scratch VALUES (1)", "BEGIN")
			require.EqualValues(t, 1, queryInt(t, c, "SELECT count(*) FROM scratch"), "temp tables work on a read-only database")
			require.EqualValues(t, 2, queryInt(t, c, "SELECT count(*) FROM t"))
			mustExec(t, c, "COMMIT")
			require.NoError(t, c.Close())

			for _, n := range concurrentReads(t, db, 8, "SELECT count(*) FROM t") {
				require.EqualValues(t, 2, n)
			}
			s := stats(t, db)
			require.Zero(t, s.WriterUnits, "no writer")
			require.Zero(t, s.WriteRoutes)
		})
	}
	after, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, info.ModTime(), after.ModTime())
	require.Equal(t, info.Size(), after.Size())
}

// TestStatementsInAWriteTransactionWithoutWAL checks that on a database without WAL the
// statements of a write transaction, which the classifier has not judged before, run at
// once: the transaction's own lock keeps the classifier out (memdb refuses readers while
// a write transaction is open, and BEGIN EXCLUSIVE locks a rollback-journal file), and the
// classifier must not wait for it. The busy timeout is a minute, so waiting for the lock
// would turn into a failure of receive's bound, not into a slow pass.
func TestStatementsInAWriteTransactionWithoutWAL(t *testing.T) {
	for _, dsn := range []string{
		":memory:?_busy_timeout=60000&_serial_write_wait=1s",
		"file?_journal_mode=DELETE&_txlock=exclusive&_busy_timeout=60000&_serial_write_wait=1s",
	} {
		t.Run(dsn, func(t *testing.T) {
			if strings.HasPrefix(dsn, "file") {
				dsn = t.TempDir() + "/x.db" + strings.TrimPrefix(dsn, "file")
			}
			db := openMemory(t, dsn)
			mustExec(t, db, "CREATE TABLE t(x)")
			done := make(chan error, 1)
			go func() {
				done <- func() error {
					tx, err := db.Begin()
					if err != nil {
						return err
					}
					defer tx.Rollback()
					if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
						return err
					}
					var n int
					if err := tx.QueryRow("SELECT count(*) FROM t WHERE x > 0").Scan(&n); err != nil {
						return err
					}
					if n != 1 {
						return fmt.Errorf("the transaction sees %d rows of its own, not 1", n)
					}
					if err := tx.Commit(); err != nil {
						return err
					}
					c, err := db.Conn(background)
					if err != nil {
						return err
					}
					defer c.Close()
					for _, q := range []string{"BEGIN", "INSERT INTO t VALUES (2)", "UPDATE t SET x = x + 10", "COMMIT"} {
						if _, err := c.ExecContext(background, q); err != nil {
							return fmt.Errorf("%s: %w", q, err)
						}
					}
					return nil
				}()
			}()
			require.NoError(t, receive(t, done))
			require.EqualValues(t, 23, queryInt(t, db, "SELECT sum(x) FROM t"))
		})
	}
}
