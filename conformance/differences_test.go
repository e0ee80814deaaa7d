package conformance

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	sqliteserial "github.com/sqlite-serial/sqlite-serial"
	"github.com/stretchr/testify/require"
)

// The differences from plain mattn/go-sqlite3 that the README documents, each shown here
// against both drivers.

func TestDifferenceFileIsSwitchedToWAL(t *testing.T) {
	var plain, serial string
	require.NoError(t, openTarget(t, "sqlite3").QueryRow("PRAGMA journal_mode").Scan(&plain))
	require.NoError(t, openTarget(t, "sqlite-serial").QueryRow("PRAGMA journal_mode").Scan(&serial))
	require.Equal(t, "delete", plain)
	require.Equal(t, "wal", serial)

	require.NoError(t, openTarget(t, "sqlite-serial", "_journal_mode=TRUNCATE").QueryRow("PRAGMA journal_mode").Scan(&serial))
	require.Equal(t, "truncate", serial, "a journal mode the DSN chooses is kept")
}

func TestDifferenceIsolationLevelsAreRefused(t *testing.T) {
	opts := &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	tx, err := openTarget(t, "sqlite3").BeginTx(context.Background(), opts)
	require.NoError(t, err, "mattn ignores the level")
	require.NoError(t, tx.Rollback())

	_, err = openTarget(t, "sqlite-serial").BeginTx(context.Background(), opts)
	var e *sqliteserial.IsolationLevelError
	require.ErrorAs(t, err, &e)
}

func TestDifferenceReadOnlyIsHonoured(t *testing.T) {
	for driver, refused := range map[string]bool{"sqlite3": false, "sqlite-serial": true} {
		db := openTarget(t, driver)
		_, err := db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		_, err = tx.Exec("INSERT INTO t VALUES (1)")
		if refused {
			var e sqlite3.Error
			require.ErrorAs(t, err, &e, driver)
			require.Equal(t, sqlite3.ErrReadonly, e.Code)
		} else {
			require.NoError(t, err, "mattn ignores ReadOnly")
		}
		require.NoError(t, tx.Rollback())
	}
}

func TestDifferenceSharedCacheMemoryIsPrivate(t *testing.T) {
	const dsn = "file:conformance-shared?mode=memory&cache=shared"
	for driver, shared := range map[string]bool{"sqlite3": true, "sqlite-serial": false} {
		a, err := sql.Open(driver, dsn)
		require.NoError(t, err)
		b, err := sql.Open(driver, dsn)
		require.NoError(t, err)
		_, err = a.Exec("CREATE TABLE seen_by_b(v)")
		require.NoError(t, err)
		_, err = b.Exec("INSERT INTO seen_by_b VALUES (1)")
		if shared {
			require.NoError(t, err, driver)
		} else {
			require.ErrorContains(t, err, "no such table", driver)
		}
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
	}
}

func TestDifferenceTransactionsBeginImmediate(t *testing.T) {
	for driver, locks := range map[string]bool{"sqlite3": false, "sqlite-serial": true} {
		path := filepath.Join(t.TempDir(), "i.db")
		db, err := sql.Open(driver, path+"?_journal_mode=WAL")
		require.NoError(t, err)
		_, err = db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		tx, err := db.Begin()
		require.NoError(t, err)
		outside, err := sql.Open("sqlite3", path+"?_busy_timeout=0")
		require.NoError(t, err)
		_, err = outside.Exec("INSERT INTO t VALUES (1)")
		if locks {
			var e sqlite3.Error
			require.ErrorAs(t, err, &e, driver)
			require.Equal(t, sqlite3.ErrBusy, e.Code, "BEGIN IMMEDIATE holds the write lock")
		} else {
			require.NoError(t, err, "a deferred BEGIN takes no lock until it writes")
		}
		require.NoError(t, tx.Rollback())
		require.NoError(t, outside.Close())
		require.NoError(t, db.Close())
	}
}

func TestDifferencePragmaSettingReachesEveryConnection(t *testing.T) {
	db := openTarget(t, "sqlite-serial", "_serial_readers=4")
	_, err := db.Exec("PRAGMA case_sensitive_like = ON")
	require.NoError(t, err)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			var match bool
			err := db.QueryRow("SELECT 'A' LIKE 'a'").Scan(&match)
			if err == nil && match {
				err = sql.ErrNoRows // any error: a connection without the setting answered
			}
			errs <- err
		}()
	}
	for range 16 {
		require.NoError(t, <-errs)
	}
}

func TestDifferenceTotalChangesCountsEverySessionOnTheWriter(t *testing.T) {
	for driver, want := range map[string]int64{"sqlite3": 1, "sqlite-serial": 2} {
		db := openTarget(t, driver, "_journal_mode=WAL")
		_, err := db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		a, err := db.Conn(context.Background())
		require.NoError(t, err)
		b, err := db.Conn(context.Background())
		require.NoError(t, err)
		for _, c := range []*sql.Conn{a, b} {
			_, err := c.ExecContext(context.Background(), "INSERT INTO t VALUES (1)")
			require.NoError(t, err)
		}
		var total int64
		require.NoError(t, b.QueryRowContext(context.Background(), "SELECT total_changes()").Scan(&total))
		require.Equal(t, want, total, driver)
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
	}
}

func TestDifferenceRawHandsTheDriversConnection(t *testing.T) {
	for driver, isMattn := range map[string]bool{"sqlite3": true, "sqlite-serial": false} {
		c, err := openTarget(t, driver).Conn(context.Background())
		require.NoError(t, err)
		require.NoError(t, c.Raw(func(dc any) error {
			_, ok := dc.(*sqlite3.SQLiteConn)
			require.Equal(t, isMattn, ok, driver)
			return nil
		}))
		require.NoError(t, c.Close())
	}
}
