package conformance

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	_ "github.com/sqlite-serial/sqlite-serial"
	"github.com/stretchr/testify/require"
)

// journal is a journal mode a case runs in, as DSN keys for each driver.
type journal struct {
	name  string
	plain string // for "sqlite3"
	// serial is for "sqlite-serial", which switches a file to WAL by itself.
	serial string
}

var journals = []journal{
	{name: "wal", plain: "_journal_mode=WAL", serial: ""},
	{name: "rollback", plain: "_journal_mode=DELETE", serial: "_journal_mode=DELETE"},
}

// matrixCase is one case of the matrix. run does something with db and returns what came
// out, as text: values with their Go types, and errors with their SQLite codes. The same
// case must give the same text through both drivers.
type matrixCase struct {
	name string
	// dsn holds extra DSN keys the case needs, such as _loc.
	dsn string
	run func(t *testing.T, db *sql.DB) []string
}

// openTarget opens a fresh database file through driver with the DSN keys given.
func openTarget(t *testing.T, driver string, keys ...string) *sql.DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "m.db")
	var nonEmpty []string
	for _, k := range keys {
		if k != "" {
			nonEmpty = append(nonEmpty, k)
		}
	}
	if len(nonEmpty) > 0 {
		dsn += "?" + strings.Join(nonEmpty, "&")
	}
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, db.Ping())
	return db
}

// TestMatrix runs every case through plain mattn/go-sqlite3 and through sqlite-serial, in
// WAL mode and with the rollback journal, and requires the same outcome.
func TestMatrix(t *testing.T) {
	for _, c := range matrixCases {
		for _, j := range journals {
			t.Run(c.name+"/"+j.name, func(t *testing.T) {
				want := c.run(t, openTarget(t, "sqlite3", j.plain, c.dsn))
				got := c.run(t, openTarget(t, "sqlite-serial", j.serial, c.dsn))
				require.Equal(t, want, got)
			})
		}
	}
}

// describe writes v with its Go type, exactly.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case float64:
		return fmt.Sprintf("float64(%s signbit=%v)", strconv.FormatFloat(x, 'g', -1, 64), math.Signbit(x))
	case []byte:
		if x == nil {
			return "[]byte(nil)"
		}
		return "[]byte(" + hex.EncodeToString(x) + ")"
	case time.Time:
		return "time(" + x.Format(time.RFC3339Nano) + " " + x.Location().String() + ")"
	case string:
		return "string(" + strconv.Quote(x) + ")"
	case error:
		return describeError(x)
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

// describeError writes an error with its SQLite codes when it has them.
func describeError(err error) string {
	var e sqlite3.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("sqlite3.Error(code=%d extended=%d %q)", e.Code, e.ExtendedCode, e.Error())
	}
	return "error(" + err.Error() + ")"
}

// queryAll runs query and describes every value of every row, with the column names.
func queryAll(db interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string, args ...any) []string {
	rows, err := db.Query(query, args...)
	if err != nil {
		return []string{describeError(err)}
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := []string{strings.Join(cols, ",")}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return append(out, describeError(err))
		}
		var line []string
		for _, v := range vals {
			line = append(line, describe(v))
		}
		out = append(out, strings.Join(line, " | "))
	}
	if err := rows.Err(); err != nil {
		out = append(out, describeError(err))
	}
	return out
}

// execAll runs statements and describes each outcome: the result's numbers or the error.
func execAll(db interface {
	Exec(string, ...any) (sql.Result, error)
}, statements ...string) []string {
	var out []string
	for _, s := range statements {
		out = append(out, describeResult(db.Exec(s)))
	}
	return out
}

// describeResult writes what Exec returned.
func describeResult(res sql.Result, err error) string {
	if err != nil {
		return describeError(err)
	}
	id, idErr := res.LastInsertId()
	n, nErr := res.RowsAffected()
	return fmt.Sprintf("id=%d(%v) rows=%d(%v)", id, idErr, n, nErr)
}

var matrixCases = []matrixCase{
	{name: "int64 bounds", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(i INTEGER, x)")
		for _, n := range []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt32 + 1, math.MaxInt64} {
			out = append(out, describeResult(db.Exec("INSERT INTO v VALUES (?, ?)", n, n)))
		}
		out = append(out, queryAll(db, "SELECT i, x, typeof(x), i + 0, CAST(i AS TEXT) FROM v ORDER BY i")...)
		var maxScanned int64
		out = append(out, describe(db.QueryRow("SELECT max(i) FROM v").Scan(&maxScanned)), describe(maxScanned))
		var small int8
		out = append(out, describe(db.QueryRow("SELECT max(i) FROM v").Scan(&small)))
		return append(out, queryAll(db, "SELECT 9223372036854775807 + 1, -9223372036854775808 - 1")...)
	}},
	{name: "float64 specials", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(f REAL, x)")
		for _, f := range []float64{math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, math.SmallestNonzeroFloat64,
			math.MaxFloat64, -math.MaxFloat64, 0.1, math.Pi, math.NaN()} {
			out = append(out, describeResult(db.Exec("INSERT INTO v VALUES (?, ?)", f, f)))
		}
		return append(out, queryAll(db, "SELECT f, x, typeof(x) FROM v ORDER BY rowid")...)
	}},
	{name: "text", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(s TEXT, x)")
		for _, s := range []string{"", "a\x00b", "\x00", "héllo wörld ✓ 日本語 🙂", strings.Repeat("long ", 20000), "'; DROP TABLE v; --", "\xff\xfe invalid utf-8"} {
			out = append(out, describeResult(db.Exec("INSERT INTO v VALUES (?, ?)", s, s)))
		}
		out = append(out, queryAll(db, "SELECT length(s), length(CAST(s AS BLOB)), typeof(x), substr(s, 1, 40) FROM v ORDER BY rowid")...)
		var back string
		out = append(out, describe(db.QueryRow("SELECT s FROM v WHERE rowid = 2").Scan(&back)), describe(back))
		return out
	}},
	{name: "blobs and NULL", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(b BLOB, x)")
		for _, b := range [][]byte{nil, {}, {0}, {0, 1, 2, 255}, make([]byte, 100000)} {
			out = append(out, describeResult(db.Exec("INSERT INTO v VALUES (?, ?)", b, b)))
		}
		out = append(out, describeResult(db.Exec("INSERT INTO v VALUES (NULL, ?)", nil)))
		out = append(out, queryAll(db, "SELECT typeof(b), length(b), hex(substr(b, 1, 4)), x IS NULL FROM v ORDER BY rowid")...)
		var ns sql.NullString
		var ni sql.NullInt64
		var nb []byte
		out = append(out, describe(db.QueryRow("SELECT NULL, NULL, NULL").Scan(&ns, &ni, &nb)),
			describe(ns.Valid), describe(ni.Valid), describe(nb))
		return out
	}},
	{name: "bool", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(b BOOLEAN, i INTEGER, x)")
		for _, b := range []bool{true, false} {
			out = append(out, describeResult(db.Exec("INSERT INTO v VALUES (?, ?, ?)", b, b, b)))
		}
		out = append(out, queryAll(db, "SELECT b, i, x, typeof(b) FROM v ORDER BY rowid")...)
		var got bool
		out = append(out, describe(db.QueryRow("SELECT b FROM v WHERE rowid = 1").Scan(&got)), describe(got))
		return out
	}},
	{name: "time default location", run: timeCase},
	{name: "time _loc=auto", dsn: "_loc=auto", run: timeCase},
	{name: "time _loc=UTC", dsn: "_loc=UTC", run: timeCase},
	{name: "parameters", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(a, b, c)")
		out = append(out,
			describeResult(db.Exec("INSERT INTO v VALUES (?, ?, ?)", 1, "two", 3.0)),
			describeResult(db.Exec("INSERT INTO v VALUES (?3, ?1, ?2)", "x", "y", "z")),
			describeResult(db.Exec("INSERT INTO v VALUES (:a, @b, $c)", sql.Named("a", 7), sql.Named("b", 8), sql.Named("c", 9))),
			describeResult(db.Exec("INSERT INTO v VALUES (:a, :a, :a)", sql.Named("a", "same"))),
			describeResult(db.Exec("INSERT INTO v VALUES (?, ?, ?)", 1, 2)),
			describeResult(db.Exec("INSERT INTO v VALUES (?, ?, ?)", 1, 2, 3, 4)),
			describeResult(db.Exec("INSERT INTO v VALUES (:a, :b, :c)", sql.Named("a", 1))),
		)
		out = append(out, queryAll(db, "SELECT * FROM v WHERE a = :a OR b = ?2 ORDER BY rowid", sql.Named("a", 7), "y")...)
		out = append(out, queryAll(db, "SELECT ?1 || ?1, ?2", "ab", nil)...)
		return out
	}},
	{name: "prepared statement shared by goroutines", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(id INTEGER PRIMARY KEY, x INTEGER)")
		ins, err := db.Prepare("INSERT INTO v(x) VALUES (?)")
		require.NoError(t, err)
		defer ins.Close()
		for i := range 200 {
			_, err := ins.Exec(i)
			require.NoError(t, err)
		}
		sel, err := db.Prepare("SELECT x FROM v WHERE id = ?")
		require.NoError(t, err)
		defer sel.Close()
		sums := make([]int64, 16)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []string
		for g := range 16 {
			wg.Go(func() {
				for id := 1; id <= 200; id++ {
					var x int64
					if err := sel.QueryRow(id).Scan(&x); err != nil {
						mu.Lock()
						errs = append(errs, err.Error())
						mu.Unlock()
						return
					}
					sums[g] += x
				}
			})
		}
		wg.Wait()
		out = append(out, fmt.Sprint(errs))
		for _, s := range sums {
			out = append(out, describe(s))
		}
		return out
	}},
	{name: "prepared insert shared by goroutines", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(id INTEGER PRIMARY KEY, x INTEGER NOT NULL UNIQUE)")
		ins, err := db.Prepare("INSERT INTO v(x) VALUES (?)")
		require.NoError(t, err)
		defer ins.Close()
		const goroutines, each = 16, 8
		// Goroutine g inserts the values g*each to g*each+each-1; results[x] is what the Exec
		// that inserted x returned.
		type result struct {
			id, rows int64
			err      error
		}
		var results [goroutines * each]result
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range goroutines {
			wg.Go(func() {
				<-start
				for i := range each {
					x := g*each + i
					res, err := ins.Exec(x)
					if err != nil {
						results[x].err = err
						continue
					}
					results[x].id, _ = res.LastInsertId()
					results[x].rows, _ = res.RowsAffected()
				}
			})
		}
		close(start)
		wg.Wait()

		stored := map[int64]int{}
		rows, err := db.Query("SELECT id, x FROM v")
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			var x int
			require.NoError(t, rows.Scan(&id, &x))
			stored[id] = x
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		// Which id each value got depends on the order the inserts ran in: the ids are
		// compared as a sorted set, and each Exec's id must name the row holding its value.
		var ids []int64
		for x, r := range results {
			got, ok := stored[r.id]
			out = append(out, fmt.Sprintf("x=%d rows=%d err=%s id holds x: %v", x, r.rows, describe(r.err), ok && got == x))
			ids = append(ids, r.id)
		}
		slices.Sort(ids)
		out = append(out, fmt.Sprint(ids))
		return append(out, queryAll(db, "SELECT count(*), min(id), max(id), sum(x) FROM v")...)
	}},
	{name: "column types", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, `CREATE TABLE v(
			i INTEGER NOT NULL, t TEXT, r REAL, b BLOB, n NUMERIC, d DATETIME, ts TIMESTAMP, dt DATE,
			bo BOOLEAN, vc VARCHAR(20), dec DECIMAL(10, 2), none)`,
			"INSERT INTO v VALUES (1, 't', 1.5, x'00', 2, '2024-01-02 03:04:05', '2024-01-02T03:04:05Z', '2024-01-02', 1, 'v', 3.25, NULL)")
		rows, err := db.Query("SELECT *, i + 1 AS expr, 'lit' AS lit FROM v")
		require.NoError(t, err)
		defer rows.Close()
		types, err := rows.ColumnTypes()
		require.NoError(t, err)
		for _, ct := range types {
			nullable, nullOK := ct.Nullable()
			length, lengthOK := ct.Length()
			precision, scale, decimalOK := ct.DecimalSize()
			out = append(out, fmt.Sprintf("%s db=%q nullable=%v,%v length=%d,%v decimal=%d,%d,%v scan=%v",
				ct.Name(), ct.DatabaseTypeName(), nullable, nullOK, length, lengthOK, precision, scale, decimalOK, ct.ScanType()))
		}
		return out
	}},
	{name: "last insert id and rows affected", run: func(t *testing.T, db *sql.DB) []string {
		return execAll(db,
			"CREATE TABLE v(id INTEGER PRIMARY KEY, x UNIQUE)",
			"CREATE TABLE log(id INTEGER PRIMARY KEY, what)",
			"CREATE TABLE kv(k PRIMARY KEY, v) WITHOUT ROWID",
			"CREATE TRIGGER v_log AFTER INSERT ON v BEGIN INSERT INTO log(what) VALUES ('a'), ('b'), ('c'); END",
			"INSERT INTO v(x) VALUES (1)",
			"INSERT INTO v(x) VALUES (2), (3), (4)",
			"INSERT OR IGNORE INTO v(x) VALUES (1)",
			"INSERT INTO v(id, x) VALUES (100, 5)",
			"UPDATE v SET x = x + 10 WHERE x < 4",
			"UPDATE v SET x = x WHERE 0",
			"DELETE FROM v WHERE x > 12",
			"INSERT INTO kv VALUES ('k', 'v')",
			"REPLACE INTO v(id, x) VALUES (100, 6)",
			"INSERT INTO v(x) VALUES (7) ON CONFLICT(x) DO UPDATE SET x = excluded.x + 100",
			"INSERT INTO v(x) VALUES (7) ON CONFLICT(x) DO UPDATE SET x = excluded.x + 100",
			"SELECT 1",
			"INSERT INTO v(x) SELECT x + 1000 FROM v",
		)
	}},
	{name: "multi-statement exec", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db,
			"CREATE TABLE v(id INTEGER PRIMARY KEY, x); CREATE INDEX v_x ON v(x);",
			"INSERT INTO v(x) VALUES (1); INSERT INTO v(x) VALUES (2); UPDATE v SET x = x * 10",
			"INSERT INTO v(x) VALUES (3); INSERT INTO nowhere VALUES (4); INSERT INTO v(x) VALUES (5)",
			"  ;  ; -- nothing\n",
			"SELECT 1; SELECT 2",
		)
		out = append(out, describeResult(db.Exec("INSERT INTO v(x) VALUES (?); INSERT INTO v(x) VALUES (?)", 6, 7)))
		return append(out, queryAll(db, "SELECT * FROM v ORDER BY id")...)
	}},
	{name: "transactions with savepoints", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(x)")
		tx, err := db.Begin()
		require.NoError(t, err)
		out = append(out, execAll(tx,
			"INSERT INTO v VALUES (1)",
			"SAVEPOINT a",
			"INSERT INTO v VALUES (2)",
			"SAVEPOINT b",
			"INSERT INTO v VALUES (3)",
			"ROLLBACK TO b",
			"RELEASE b",
			"INSERT INTO v VALUES (4)",
			"ROLLBACK TO a",
			"INSERT INTO v VALUES (5)",
			"RELEASE a",
			"RELEASE nothing",
		)...)
		out = append(out, queryAll(tx, "SELECT group_concat(x) FROM v")...)
		out = append(out, describe(tx.Commit()))
		out = append(out, queryAll(db, "SELECT group_concat(x) FROM v")...)
		tx, err = db.Begin()
		require.NoError(t, err)
		out = append(out, execAll(tx, "INSERT INTO v VALUES (6)")...)
		out = append(out, describe(tx.Rollback()), describe(tx.Rollback()), describe(tx.Commit()))
		return append(out, queryAll(db, "SELECT group_concat(x) FROM v")...)
	}},
	{name: "cancel in the middle of rows", run: func(t *testing.T, db *sql.DB) []string {
		out := execAll(db, "CREATE TABLE v(x)",
			"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000) INSERT INTO v SELECT i FROM c")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rows, err := db.QueryContext(ctx, "SELECT x FROM v ORDER BY x")
		require.NoError(t, err)
		// Exactly 10 rows come out: mattn's Rows.Next checks its context before each step,
		// and cancel has ended the context when it returns, so no row after it is read.
		n := 0
		for rows.Next() {
			n++
			if n == 10 {
				cancel()
			}
		}
		out = append(out, describe(n), describe(rows.Err()), describe(rows.Close()))
		return append(out, queryAll(db, "SELECT count(*) FROM v")...)
	}},
	{name: "argument conversion", run: func(t *testing.T, db *sql.DB) []string {
		// The driver, like mattn, leaves argument conversion to database/sql's default
		// (neither implements NamedValueChecker): the same values are accepted and refused.
		out := execAll(db, "CREATE TABLE v(x)")
		seven := 7
		var nilPointer *int
		for _, arg := range []any{int8(-8), int16(16), int32(-32), uint(1), uint8(8), uint16(16), uint32(32), uint64(64),
			uint64(math.MaxUint64), float32(1.5), &seven, nilPointer, time.Duration(3), sql.NullInt64{Int64: 5, Valid: true},
			sql.NullString{}, upperValuer("valuer"), namedString("named"), struct{}{}, []int{1}, map[string]int{}} {
			out = append(out, fmt.Sprintf("%T: %s", arg, describeResult(db.Exec("INSERT INTO v VALUES (?)", arg))))
		}
		return append(out, queryAll(db, "SELECT x, typeof(x) FROM v ORDER BY rowid")...)
	}},
	{name: "constraint and type errors", dsn: "_fk=1", run: func(t *testing.T, db *sql.DB) []string {
		return execAll(db,
			"CREATE TABLE p(id INTEGER PRIMARY KEY)",
			"CREATE TABLE c(id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p(id), u TEXT UNIQUE, n INTEGER CHECK (n > 0)) ",
			"CREATE TABLE s(i INTEGER) STRICT",
			"INSERT INTO p VALUES (1)",
			"INSERT INTO c VALUES (1, 1, 'a', 1)",
			"INSERT INTO c VALUES (1, 1, 'b', 1)",
			"INSERT INTO c VALUES (2, 1, 'a', 1)",
			"INSERT INTO c VALUES (3, NULL, 'c', 1)",
			"INSERT INTO c VALUES (4, 1, 'd', 0)",
			"INSERT INTO c VALUES (5, 42, 'e', 1)",
			"DELETE FROM p",
			"INSERT INTO s VALUES ('not a number')",
			"SELEC 1",
			"SELECT * FROM nowhere",
			"SELECT nosuchcolumn FROM p",
			"SELECT abs(1, 2)",
			"SELECT RAISE(ABORT, 'raised')",
		)
	}},
}

// timeCase stores times in each of mattn's ways and reads them back.
func timeCase(t *testing.T, db *sql.DB) []string {
	out := execAll(db, "CREATE TABLE v(dt DATETIME, ts TIMESTAMP, d DATE, txt TEXT, i INTEGER)")
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := time.Date(2024, 2, 29, 23, 59, 58, 123456789, zone)
	out = append(out,
		describeResult(db.Exec("INSERT INTO v VALUES (?, ?, ?, ?, ?)", at, at, at, at, at.Unix())),
		describeResult(db.Exec("INSERT INTO v VALUES (?, ?, ?, ?, ?)", at.UTC(), at.UTC(), at.UTC(), at.UTC(), at.UnixMilli())),
		describeResult(db.Exec(`INSERT INTO v VALUES ('2024-01-02 03:04:05', '2024-01-02T03:04:05Z', '2024-01-02',
			'2024-01-02 03:04:05.123+01:00', 1704164645)`)),
		describeResult(db.Exec("INSERT INTO v VALUES (1704164645, 1704164645123, '2024-01-02T03:04', 'not a time', NULL)")),
	)
	out = append(out, queryAll(db, "SELECT * FROM v ORDER BY rowid")...)
	var back time.Time
	out = append(out, describe(db.QueryRow("SELECT dt FROM v WHERE rowid = 1").Scan(&back)), describe(back))
	return out
}

// upperValuer is a driver.Valuer.
type upperValuer string

func (v upperValuer) Value() (driver.Value, error) { return strings.ToUpper(string(v)), nil }

// namedString is a string type that is not string.
type namedString string
