//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestBatchWritesAppliedExactlyWhenReported runs 24 goroutines of writes that form batches
// (Exec, and Query with RETURNING), among them statements slower than the time limit,
// writes whose trigger raises ROLLBACK, writes whose context ends at a random moment,
// transactions and WithWriter, and requires each write to be applied exactly once when its
// call reported success and not at all otherwise.
func TestBatchWritesAppliedExactlyWhenReported(t *testing.T) {
	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "s.db") + "?_serial_query_timeout=20ms")
	require.NoError(t, err)
	cfg.BatchMax = defaultBatchMax // a ConnectHook turns group commit off unless asked for
	cfg.Driver = driverWithFunc("slow", func(v string) string {
		if len(v) > 0 && v[len(v)-1] == 's' {
			time.Sleep(30 * time.Millisecond)
		}
		return v
	})
	db, cn := openConnector(t, cfg)
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)",
		"CREATE TRIGGER rb BEFORE INSERT ON t WHEN NEW.v LIKE '%r' BEGIN SELECT RAISE(ROLLBACK, 'rb'); END")
	type rec struct {
		v, kind string
		ok      bool
		err     error
	}
	var mu sync.Mutex
	var recs []rec
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 150 {
				v := fmt.Sprintf("g%d-%d", g, i)
				switch r.IntN(20) {
				case 0:
					v += "r"
				case 1:
					v += "s"
				}
				ctx, cancel := context.WithCancel(background)
				if r.IntN(6) == 0 {
					d := time.Duration(r.IntN(2000)) * time.Microsecond
					time.AfterFunc(d, cancel)
				}
				var err error
				kind := "exec"
				if k := r.IntN(40); k == 0 {
					kind = "WithWriter"
					err = cn.WithWriter(ctx, func(c *sqlite3.SQLiteConn) error {
						_, e := c.Exec("INSERT INTO t(v) VALUES ('"+v+"')", nil)
						return e
					})
				} else if k == 1 {
					kind = "transaction"
					tx, e := db.BeginTx(ctx, nil)
					if e == nil {
						if _, e = tx.Exec("INSERT INTO t(v) VALUES (?)", v); e == nil {
							e = tx.Commit()
						} else {
							tx.Rollback()
						}
					}
					err = e
				} else if k == 2 {
					var id int64
					err = db.QueryRowContext(ctx, "UPDATE t SET v = v WHERE id = -1 RETURNING id").Scan(&id)
					if err == sql.ErrNoRows {
						err = nil
					}
					v = ""
				} else if r.IntN(2) == 0 {
					_, err = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (slow(?))", v)
				} else {
					// What reports the write is Query: a context that ends after it
					// returned shows in Rows.Err, from database/sql, whatever the driver
					// did (README, Writes sent through Query).
					kind = "query returning"
					var rows *sql.Rows
					if rows, err = db.QueryContext(ctx, "INSERT INTO t(v) VALUES (slow(?)) RETURNING id", v); err == nil {
						for rows.Next() {
						}
						rows.Close()
					}
				}
				cancel()
				if v == "" {
					continue
				}
				mu.Lock()
				recs = append(recs, rec{v: v, kind: kind, ok: err == nil, err: err})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := map[string]int{}
	// Read through plain mattn: under the race detector reading the whole table can take
	// longer than the 20ms _serial_query_timeout, which would cut the rows short.
	plain, err := sql.Open("sqlite3", cfg.DSN)
	require.NoError(t, err)
	defer plain.Close()
	rows, err := plain.Query("SELECT v FROM t")
	require.NoError(t, err)
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		got[v]++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	bad := 0
	for _, r := range recs {
		if (got[r.v] == 1) != r.ok || got[r.v] > 1 {
			bad++
			if bad < 10 {
				t.Errorf("%s (%s): reported ok=%v (%v), rows=%d", r.v, r.kind, r.ok, r.err, got[r.v])
			}
		}
	}
	s := cn.Stats()
	require.Zero(t, bad)
	require.Positive(t, s.Batches)
	require.Positive(t, s.BatchesRolledBack)
	t.Logf("batches %d batched %d rolled back %d", s.Batches, s.BatchedWrites, s.BatchesRolledBack)
}
