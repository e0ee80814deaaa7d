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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloseRacesBatchedWrites closes the connector while batched writes with
// random cancellations run; every writer connection must be closed once they all returned,
// the turn free, and every write reported applied must be in the file.
func TestCloseRacesBatchedWrites(t *testing.T) {
	for round := range 20 {
		before := openPhysical.Load()
		path := filepath.Join(t.TempDir(), "c.db")
		db, err := sql.Open(DriverName, path)
		require.NoError(t, err)
		mustExec(t, db, "CREATE TABLE t(v TEXT PRIMARY KEY)")
		cn, err := connectorOf(db)
		require.NoError(t, err)
		var mu sync.Mutex
		var ok []string
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(round), uint64(g)))
				for i := range 200 {
					v := fmt.Sprint(g, "-", i)
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.IntN(8000))*time.Microsecond)
					var err error
					switch r.IntN(4) {
					case 0:
						_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (?)", v)
					case 1:
						var rows *sql.Rows
						if rows, err = db.QueryContext(ctx, "INSERT INTO t VALUES (?) RETURNING v", v); err == nil {
							for rows.Next() {
							}
							err = rows.Err()
							rows.Close()
						}
					case 2:
						var tx *sql.Tx
						if tx, err = db.BeginTx(ctx, nil); err == nil {
							if _, err = tx.Exec("INSERT INTO t VALUES (?)", v); err == nil {
								err = tx.Commit()
							} else {
								tx.Rollback()
							}
						}
					case 3:
						err = cn.WithWriter(ctx, func(c *sqlite3.SQLiteConn) error {
							_, err := c.Exec("INSERT INTO t VALUES ('"+v+"')", nil)
							return err
						})
					}
					cancel()
					if err == nil {
						mu.Lock()
						ok = append(ok, v)
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(time.Duration(20+5*round) * time.Millisecond)
		assert.NoError(t, db.Close())
		wg.Wait()
		t.Logf("round %d: %d writes ok, %+v", round, len(ok), cn.Stats().Batches)
		_, _, held := cn.writer.turn.Holder()
		require.False(t, held)
		require.Nil(t, cn.writer.conn)
		require.Equal(t, before, openPhysical.Load(), "round %d: every connection closed", round)

		check, err := sql.Open("sqlite3", path+"?_busy_timeout=0")
		require.NoError(t, err)
		_, err = check.Exec("BEGIN IMMEDIATE; COMMIT")
		require.NoError(t, err, "no lock left behind")
		for _, v := range ok {
			require.Equal(t, int64(1), queryInt(t, check, "SELECT count(*) FROM t WHERE v = ?", v), v)
		}
		check.Close()
	}
}
