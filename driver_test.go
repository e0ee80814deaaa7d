//go:build cgo

package sqliteserial

import (
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

func TestRegisteredByBlankImport(t *testing.T) {
	require.Contains(t, sql.Drivers(), "sqlite-serial")
	db, _ := openDB(t, "")
	_, ok := db.Driver().(*Driver)
	require.True(t, ok, "the *sql.DB's driver is %T", db.Driver())
}

// dsnCases is the one table of DSNs behind the parse, format and invalid-input tests.
var dsnCases = []struct {
	dsn  string
	want *Config // nil: ParseDSN must fail
	// errKey is the key the error must name.
	errKey string
}{
	{dsn: "test.db", want: &Config{DSN: "test.db"}},
	{dsn: ":memory:", want: &Config{DSN: ":memory:"}},
	{dsn: "test.db?_fk=1&_busy_timeout=100", want: &Config{DSN: "test.db?_fk=1&_busy_timeout=100"}},
	{dsn: "test.db?_serial_readers=4", want: &Config{DSN: "test.db", Readers: 4}},
	{dsn: "file:test.db?mode=ro&_serial_readers=3&cache=private&_loc=auto",
		want: &Config{DSN: "file:test.db?mode=ro&cache=private&_loc=auto", Readers: 3}},
	{dsn: "test.db?_serial_write_wait=250ms&_serial_query_timeout=2s",
		want: &Config{DSN: "test.db", WriteWait: 250 * time.Millisecond, QueryTimeout: 2 * time.Second}},
	{dsn: "test.db?_serial_write_wait=1500", want: &Config{DSN: "test.db", WriteWait: 1500 * time.Millisecond}},
	{dsn: "test.db?_serial_query_timeout=0&_txlock=immediate", want: &Config{DSN: "test.db?_txlock=immediate"}},
	{dsn: "file:a%20b.db?_fk=true&_serial_readers=2&vfs=unix-dotfile",
		want: &Config{DSN: "file:a%20b.db?_fk=true&vfs=unix-dotfile", Readers: 2}},
	{dsn: "test.db?_serial_%72eaders=5", want: &Config{DSN: "test.db", Readers: 5}},
	{dsn: "test.db?_serial_wal_limit=16M", want: &Config{DSN: "test.db", WALLimit: 16 << 20}},
	{dsn: "test.db?_serial_wal_limit=512KiB", want: &Config{DSN: "test.db", WALLimit: 512 << 10}},
	{dsn: "test.db?_serial_wal_limit=1000", want: &Config{DSN: "test.db", WALLimit: 1000}},
	{dsn: "test.db?_serial_wal_limit=0", want: &Config{DSN: "test.db", WALLimit: -1}},
	{dsn: "test.db?_serial_wal_limit=2gb", want: &Config{DSN: "test.db", WALLimit: 2 << 30}},
	{dsn: "test.db?_serial_wal_limit=-1M", errKey: "_serial_wal_limit"},
	{dsn: "test.db?_serial_wal_limit=lots", errKey: "_serial_wal_limit"},
	{dsn: "test.db?_serial_wal_limit=99999999999G", errKey: "_serial_wal_limit"},
	{dsn: "test.db?_serial_batch_max=1", want: &Config{DSN: "test.db", BatchMax: 1}},
	{dsn: "test.db?_serial_batch_max=256", want: &Config{DSN: "test.db", BatchMax: 256}},
	{dsn: "test.db?_serial_batch_max=0", errKey: "_serial_batch_max"},
	{dsn: "test.db?_serial_batch_max=4097", errKey: "_serial_batch_max"},
	{dsn: "test.db?_serial_batch_max=many", errKey: "_serial_batch_max"},
	{dsn: "test.db?_serial_readers=0", errKey: "_serial_readers"},
	{dsn: "test.db?_serial_readers=-1", errKey: "_serial_readers"},
	{dsn: "test.db?_serial_readers=many", errKey: "_serial_readers"},
	{dsn: "test.db?_serial_readers=100000", errKey: "_serial_readers"},
	{dsn: "test.db?_serial_readers=", errKey: "_serial_readers"},
	{dsn: "test.db?_serial_readers=2&_serial_readers=3", errKey: "_serial_readers"},
	{dsn: "test.db?_serial_write_wait=0", errKey: "_serial_write_wait"},
	{dsn: "test.db?_serial_write_wait=-5s", errKey: "_serial_write_wait"},
	{dsn: "test.db?_serial_write_wait=soon", errKey: "_serial_write_wait"},
	{dsn: "test.db?_serial_query_timeout=-1s", errKey: "_serial_query_timeout"},
	{dsn: "test.db?_serial_query_timeout=1y", errKey: "_serial_query_timeout"},
	{dsn: "test.db?_serial_query_timeout=%zz", errKey: "_serial_query_timeout"},
	{dsn: "test.db?_serial_readres=2", errKey: "_serial_readres"},
}

func TestParseDSN(t *testing.T) {
	for _, tc := range dsnCases {
		t.Run(tc.dsn, func(t *testing.T) {
			cfg, err := ParseDSN(tc.dsn)
			if tc.want == nil {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.errKey)
				require.True(t, strings.HasPrefix(err.Error(), "sqliteserial: "), err.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, cfg)

			again, err := ParseDSN(cfg.FormatDSN())
			require.NoError(t, err, cfg.FormatDSN())
			require.Equal(t, cfg, again, "parse, format, parse must give back the same Config")
		})
	}
}

func TestInvalidDSNFailsAtOpenNamingTheKey(t *testing.T) {
	for _, tc := range dsnCases {
		if tc.want != nil {
			continue
		}
		_, err := sql.Open(DriverName, tc.dsn)
		require.Error(t, err, tc.dsn)
		require.Contains(t, err.Error(), tc.errKey)
	}
}

func TestInvalidMattnKeyFailsAtPingNamingTheKey(t *testing.T) {
	db, err := sql.Open(DriverName, t.TempDir()+"/x.db?_txlock=sometimes")
	require.NoError(t, err)
	defer db.Close()
	err = db.Ping()
	require.Error(t, err)
	require.Contains(t, err.Error(), "_txlock")
}

func TestNewConnectorRejectsInvalidConfig(t *testing.T) {
	for _, cfg := range []*Config{
		nil,
		{DSN: "x.db", Readers: -1},
		{DSN: "x.db", Readers: maxReaders + 1},
		{DSN: "x.db", WriteWait: -time.Second},
		{DSN: "x.db", QueryTimeout: -time.Second},
		{DSN: "x.db?_serial_readers=2"},
	} {
		_, err := NewConnector(cfg)
		require.Error(t, err, "%+v", cfg)
	}
}

func TestWriterOpensFirstInWALWithBusyTimeout(t *testing.T) {
	db, path := openDB(t, "")
	_, err := os.Stat(path)
	require.NoError(t, err, "Ping opens the writer, which creates the file")

	s := stats(t, db)
	require.Zero(t, s.ReadersOpen, "readers open lazily, not at Ping")

	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode)
	require.EqualValues(t, 5000, queryInt(t, db, "PRAGMA busy_timeout"))

	db2, _ := openDB(t, "_busy_timeout=1234")
	require.EqualValues(t, 1234, queryInt(t, db2, "PRAGMA busy_timeout"))
}

func TestJournalModeChosenInDSNIsKept(t *testing.T) {
	db, _ := openDB(t, "_journal_mode=TRUNCATE")
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "truncate", mode)
	mustExec(t, db, "CREATE TABLE t(v)")
	concurrentWritesAndReads(t, db, 8, 25)
}

// concurrentWritesAndReads runs writers goroutines inserting each rows rows into t(v)
// while as many goroutines read, and checks that nothing failed and nothing was lost.
func concurrentWritesAndReads(t *testing.T, db *sql.DB, writers, rows int) {
	t.Helper()
	before := queryInt(t, db, "SELECT count(*) FROM t")
	var g errgroup.Group
	for range writers {
		g.Go(func() error {
			for i := range rows {
				if _, err := db.Exec("INSERT INTO t(v) VALUES (?)", i); err != nil {
					return err
				}
			}
			return nil
		})
		g.Go(func() error {
			for range rows {
				var n int
				if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	require.EqualValues(t, before+int64(writers*rows), queryInt(t, db, "SELECT count(*) FROM t"))
}

func TestReadersOpenLazilyUpToTheLimit(t *testing.T) {
	db, _ := openDB(t, "_serial_readers=3")
	mustExec(t, db, "CREATE TABLE t(v)")
	require.Zero(t, stats(t, db).ReadersOpen)
	queryInt(t, db, "SELECT count(*) FROM t")
	require.Equal(t, 1, stats(t, db).ReadersOpen, "one read opens one reader")

	concurrentReads(t, db, 40, "SELECT count(*) FROM t")
	s := stats(t, db)
	require.LessOrEqual(t, s.ReadersOpen, 3)
	require.LessOrEqual(t, s.ReadersMaxInUse, 3)
	require.LessOrEqual(t, s.ReadersOpened, uint64(3))
}

func TestReadersCannotWrite(t *testing.T) {
	for _, query := range []string{"", "file-uri"} {
		t.Run("dsn="+query, func(t *testing.T) {
			path := t.TempDir() + "/r.db"
			dsn := path
			if query != "" {
				dsn = "file:" + path
			}
			db, cn := openConnector(t, &Config{DSN: dsn})
			mustExec(t, db, "CREATE TABLE t(v)")
			r, err := cn.readers.get(background, false)
			require.NoError(t, err)
			defer cn.readers.put(r, false, true)
			_, err = r.ExecContext(background, "INSERT INTO t VALUES (1)", nil)
			var e sqlite3.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, sqlite3.ErrReadonly, e.Code)
			if query != "" {
				require.Contains(t, cn.topo.readerDSN, "mode=ro")
			}
		})
	}
}

// TestReadsRunInParallel shows that as many reads as there are cores, at least two, run at
// the same time: each calls a function that returns only once all of them are inside it.
func TestReadsRunInParallel(t *testing.T) {
	n := max(2, runtime.GOMAXPROCS(0))
	meet := newRendezvous(n)
	db, _ := openConnector(t, &Config{DSN: t.TempDir() + "/p.db", Readers: n,
		Driver: driverWithFunc("rendezvous", meet.meet)})
	mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1)")
	concurrentReads(t, db, n, "SELECT rendezvous() FROM t")
	require.Equal(t, n, stats(t, db).ReadersMaxInUse)
}

func TestUniqueViolationIsMattnsError(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE u(k TEXT UNIQUE)", "INSERT INTO u VALUES ('a')")
	_, err := db.Exec("INSERT INTO u VALUES ('a')")

	var e sqlite3.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, sqlite3.ErrConstraint, e.Code)
	require.Equal(t, sqlite3.ErrConstraintUnique, e.ExtendedCode)
	_, isValue := err.(sqlite3.Error)
	require.True(t, isValue, "the error is mattn's sqlite3.Error itself, not a wrapper: %T", err)

	plain, openErr := sql.Open("sqlite3", t.TempDir()+"/plain.db")
	require.NoError(t, openErr)
	defer plain.Close()
	mustExec(t, plain, "CREATE TABLE u(k TEXT UNIQUE)", "INSERT INTO u VALUES ('a')")
	_, plainErr := plain.Exec("INSERT INTO u VALUES ('a')")
	require.Equal(t, plainErr.Error(), err.Error())
}

func TestMalformedSQLGivesSQLitesOwnError(t *testing.T) {
	db, _ := openDB(t, "")
	plain, err := sql.Open("sqlite3", t.TempDir()+"/plain.db")
	require.NoError(t, err)
	defer plain.Close()
	for _, query := range []string{"SELEC 1", "SELECT * FROM nowhere", "INSERT INTO nowhere VALUES (1)", "SELECT 1; SELEC 2"} {
		_, err := db.Exec(query)
		_, plainErr := plain.Exec(query)
		require.Error(t, err, query)
		require.Equal(t, plainErr.Error(), err.Error(), query)
		var e sqlite3.Error
		require.ErrorAs(t, err, &e, query)

		_, err = db.Query(query)
		_, plainErr = plain.Query(query)
		require.Equal(t, fmt.Sprint(plainErr), fmt.Sprint(err), query)

		_, err = db.Prepare(query)
		_, plainErr = plain.Prepare(query)
		require.Equal(t, fmt.Sprint(plainErr), fmt.Sprint(err), query)
	}
}

func TestPreparedStatementRunsOnlyItsFirstStatementLikeMattn(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v)")
	st, err := db.Prepare("INSERT INTO t VALUES (?); INSERT INTO t VALUES (99)")
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Exec(1)
	require.NoError(t, err)
	require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"))

	_, err = st.Exec()
	require.Error(t, err, "database/sql checks the argument count against NumInput")
	assert.Contains(t, err.Error(), "expected 1 arguments")
}

// FuzzParseDSN checks that ParseDSN never panics and that parse, format, parse is stable.
func FuzzParseDSN(f *testing.F) {
	for _, tc := range dsnCases {
		f.Add(tc.dsn)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		cfg, err := ParseDSN(dsn)
		if err != nil {
			return
		}
		again, err := ParseDSN(cfg.FormatDSN())
		require.NoError(t, err, cfg.FormatDSN())
		require.Equal(t, cfg, again)
	})
}
