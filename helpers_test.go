//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// openDB opens a database file in a fresh temporary directory through the driver, with
// query appended to its path as the DSN's query ("" for none), and closes it when the test
// ends. It returns the database and the file's path.
func openDB(t testing.TB, query string) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	dsn := path
	if query != "" {
		dsn += "?" + query
	}
	db, err := sql.Open(DriverName, dsn)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing %s: %v", path, err)
		}
	})
	require.NoError(t, db.Ping())
	return db, path
}

// openWALOn opens a database file in a fresh temporary directory with driverName ("sqlite3"
// or the driver's) in WAL mode, and closes it when the test ends.
func openWALOn(t testing.TB, driverName string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverName, filepath.Join(t.TempDir(), "wal.db")+"?_journal_mode=WAL")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// scanValues reads the remaining rows of rows, of n columns each, as their values. It does
// not check rows.Err.
func scanValues(t testing.TB, rows *sql.Rows, n int) [][]any {
	t.Helper()
	var out [][]any
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		out = append(out, vals)
	}
	return out
}

// openConnector opens cfg through NewConnector and sql.OpenDB, and closes it when the test
// ends.
func openConnector(t testing.TB, cfg *Config) (*sql.DB, *Connector) {
	t.Helper()
	cn, err := NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(cn)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.Ping())
	return db, cn
}

// execer is what *sql.DB, *sql.Conn and *sql.Tx have in common for writing.
type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common for reading.
type queryer interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// mustExec runs statements on db and fails the test on the first error.
func mustExec(t testing.TB, db execer, statements ...string) {
	t.Helper()
	for _, s := range statements {
		_, err := db.ExecContext(context.Background(), s)
		require.NoError(t, err, s)
	}
}

// queryInt returns the integer the query returns.
func queryInt(t testing.TB, db queryer, query string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.QueryRowContext(context.Background(), query, args...).Scan(&n), query)
	return n
}

// stats returns db's counters.
func stats(t testing.TB, db *sql.DB) Stats {
	t.Helper()
	s, err := StatsOf(db)
	require.NoError(t, err)
	return s
}

// routes is where statements went: the difference of two Stats.
type routes struct{ reader, writer, pinned, retried uint64 }

// routesOf runs fn and returns where its statements went.
func routesOf(t testing.TB, db *sql.DB, fn func()) routes {
	t.Helper()
	before := stats(t, db)
	fn()
	after := stats(t, db)
	return routes{
		reader:  after.ReadRoutes - before.ReadRoutes,
		writer:  after.WriteRoutes - before.WriteRoutes,
		pinned:  after.PinnedRoutes - before.PinnedRoutes,
		retried: after.RetriedRoutes - before.RetriedRoutes,
	}
}

// queued returns a channel that receives the writer's queue depth each time a unit of work
// joins its queue, for as long as the test runs.
func queued(t testing.TB, cn *Connector) <-chan int {
	t.Helper()
	require.NoError(t, cn.start())
	ch := make(chan int, 1024)
	cn.writer.turn.OnQueued(func(depth int) { ch <- depth })
	t.Cleanup(func() { cn.writer.turn.OnQueued(nil) })
	return ch
}

// receive returns the next value of ch, failing the test if none comes within a generous
// bound: the bound only turns a hang into a failure, it is not a timing assertion.
func receive[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for an event that must happen")
		panic("unreachable")
	}
}

// rendezvous is a barrier of n parties for a SQL function: each call blocks until n calls
// are inside it at once. It proves that n statements ran at the same time without measuring
// time; if they could not, the calls give up after a generous bound with an error.
type rendezvous struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newRendezvous(n int) *rendezvous { return &rendezvous{n: n, all: make(chan struct{})} }

func (r *rendezvous) meet() (int64, error) {
	r.mu.Lock()
	r.arrived++
	if r.arrived == r.n {
		close(r.all)
	}
	r.mu.Unlock()
	select {
	case <-r.all:
		return 1, nil
	case <-time.After(30 * time.Second):
		return 0, errRendezvous
	}
}

var errRendezvous = errors.New("rendezvous: the other statements never arrived")

// driverWithFunc returns a mattn driver whose connections all have the Go function fn
// registered as name.
func driverWithFunc(name string, fn any) *sqlite3.SQLiteDriver {
	return &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		return c.RegisterFunc(name, fn, false)
	}}
}

// background is a shorter name for context.Background in tests.
var background = context.Background()

// concurrentReads runs query n times at once on db and returns the integers it returned.
func concurrentReads(t testing.TB, db *sql.DB, n int, query string) []int64 {
	t.Helper()
	got := make([]int64, n)
	var g errgroup.Group
	for i := range n {
		g.Go(func() error { return db.QueryRow(query).Scan(&got[i]) })
	}
	require.NoError(t, g.Wait())
	return got
}

// farFuture is a deadline no test reaches.
func farFuture() time.Time { return time.Now().Add(time.Hour) }

// idSet returns the integers query returns, as a set.
func idSet(t testing.TB, db *sql.DB, query string) map[int64]bool {
	t.Helper()
	set := map[int64]bool{}
	rows, err := db.Query(query)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		set[id] = true
	}
	require.NoError(t, rows.Err())
	return set
}

// session returns one connection of db, a session, closed when the test ends (after its
// deferred calls, so that a transaction on it is ended first).
func session(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(background)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}
