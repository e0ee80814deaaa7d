//go:build cgo

package sqliteserial

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// poolWithOneReader returns the reader pool of a database limited to one reader, and a
// channel that receives each time a caller starts waiting for a reader.
func poolWithOneReader(t *testing.T) (*readerPool, <-chan struct{}) {
	_, cn := openConnector(t, &Config{DSN: t.TempDir() + "/p.db", Readers: 1, ReadersMax: 1})
	require.NoError(t, cn.start())
	waiting := make(chan struct{}, 16)
	cn.readers.mu.Lock()
	cn.readers.testHookWaiting = func() { waiting <- struct{}{} }
	cn.readers.overflowAfter = time.Hour // these tests are about waiting
	cn.readers.mu.Unlock()
	return cn.readers, waiting
}

// getAsync asks for a reader in a goroutine.
func getAsync(p *readerPool, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := p.get(ctx, false)
		if err == nil {
			p.put(c, false, false)
		}
		done <- err
	}()
	return done
}

// TestReaderPoolWaitsInOrderAndHandsOver checks the pool at its limit: a caller waits, a
// caller whose context ends stops waiting, and a reader given back goes to the next waiter.
func TestReaderPoolWaitsInOrderAndHandsOver(t *testing.T) {
	p, waiting := poolWithOneReader(t)
	held, err := p.get(background, false)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := getAsync(p, ctx)
	receive(t, waiting)
	cancel()
	require.ErrorIs(t, receive(t, gaveUp), context.Canceled)

	next := getAsync(p, background)
	receive(t, waiting)
	p.put(held, false, false)
	require.NoError(t, receive(t, next))
	s, open, inUse := p.snapshot()
	require.Equal(t, 1, open)
	require.Zero(t, inUse)
	require.EqualValues(t, 1, s.opened, "the waiter was handed the same reader")
}

// TestReaderPoolReplacesABrokenReaderForAWaiter checks that a reader given back broken
// frees its slot for the next waiter, which opens a new one.
func TestReaderPoolReplacesABrokenReaderForAWaiter(t *testing.T) {
	p, waiting := poolWithOneReader(t)
	held, err := p.get(background, false)
	require.NoError(t, err)
	next := getAsync(p, background)
	receive(t, waiting)
	p.put(held, true, false)
	require.NoError(t, receive(t, next))
	s, open, _ := p.snapshot()
	require.Equal(t, 1, open)
	require.EqualValues(t, 2, s.opened)
}

// TestReaderPoolCloseWakesWaiters checks that closing the pool ends every wait.
func TestReaderPoolCloseWakesWaiters(t *testing.T) {
	p, waiting := poolWithOneReader(t)
	held, err := p.get(background, false)
	require.NoError(t, err)
	blocked := getAsync(p, background)
	receive(t, waiting)
	p.close()
	require.ErrorIs(t, receive(t, blocked), ErrClosed)
	_, open, _ := p.snapshot()
	require.Equal(t, 1, open, "the reader in use stays open until it comes back")
	p.put(held, false, false)
	_, open, _ = p.snapshot()
	require.Zero(t, open, "and is closed then")
}

// TestReaderHandedToAWaiterThatGaveUp checks the moment a reader is handed to a caller
// whose context has just ended: the caller gives the reader back to the pool without ending
// a read it never began and without releasing a share of the gate it already gave back, so
// the gate (on a database without WAL) and the read epochs (which checkpoints wait on) stay
// balanced and the pool keeps working.
func TestReaderHandedToAWaiterThatGaveUp(t *testing.T) {
	for _, dsn := range []string{":memory:", "file"} {
		t.Run(dsn, func(t *testing.T) {
			if dsn == "file" {
				dsn = t.TempDir() + "/h.db"
			}
			db, cn := openConnector(t, &Config{DSN: dsn, Readers: 1, ReadersMax: 1})
			mustExec(t, db, "CREATE TABLE t(x)", "INSERT INTO t VALUES (1), (2)")
			p := cn.readers
			waiting, gaveUp, proceed := make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{})
			p.mu.Lock()
			p.testHookWaiting = func() { waiting <- struct{}{} }
			p.testHookGaveUp = func() { gaveUp <- struct{}{}; <-proceed }
			p.overflowAfter = time.Hour
			p.mu.Unlock()

			held, err := p.get(background, false)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := getAsync(p, ctx)
			receive(t, waiting)
			cancel()
			receive(t, gaveUp) // the waiter saw its context end and has not left the queue
			p.put(held, false, false)
			close(proceed)
			require.ErrorIs(t, receive(t, done), context.Canceled)
			p.mu.Lock()
			p.testHookWaiting, p.testHookGaveUp = nil, nil
			p.mu.Unlock()

			require.Zero(t, cn.reads.underway(), "no read is under way")
			_, open, inUse := p.snapshot()
			require.Equal(t, 1, open)
			require.Zero(t, inUse)
			require.True(t, cn.reads.waitForEarlier(farFuture()), "a checkpoint finds no read to wait for")
			for _, n := range concurrentReads(t, db, 4, "SELECT count(*) FROM t") {
				require.EqualValues(t, 2, n)
			}
			mustExec(t, db, "INSERT INTO t VALUES (3)") // the writer takes the whole gate
			require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM t"))
		})
	}
}

// TestNestedReadsBeyondTheReaderLimit checks the pattern of a query inside a loop over the
// rows of another, in as many goroutines as there are readers: every reader is held by an
// outer loop's rows, so each inner query opens a reader beyond _serial_readers at once
// (below _serial_readers_max), where a hard limit would make them wait for each other
// forever. The extra readers are reused while the pattern goes on.
func TestNestedReadsBeyondTheReaderLimit(t *testing.T) {
	const readers = 2
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/n.db", Readers: readers})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20) INSERT INTO t SELECT i FROM c")
	holding := newRendezvous(readers) // every outer loop holds its reader before any inner query
	done := make(chan error, readers)
	for range readers {
		go func() {
			done <- func() error {
				rows, err := db.Query("SELECT id FROM t ORDER BY id")
				if err != nil {
					return err
				}
				defer rows.Close()
				if _, err := holding.meet(); err != nil {
					return err
				}
				sum := int64(0)
				for rows.Next() {
					var id, n int64
					if err := rows.Scan(&id); err != nil {
						return err
					}
					if err := db.QueryRow("SELECT count(*) FROM t WHERE id <= ?", id).Scan(&n); err != nil {
						return err
					}
					sum += n
				}
				if sum != 210 {
					return fmt.Errorf("the inner queries counted %d rows, not 210", sum)
				}
				return rows.Err()
			}()
		}()
	}
	for range readers {
		require.NoError(t, receive(t, done))
	}
	s := cn.Stats()
	require.Positive(t, s.ReadersOverflowed)
	require.Less(t, s.ReadersOverflowed, uint64(readers*20), "the extra readers were reused")
	require.Zero(t, s.ReadersInUse)
}

// TestPoolCloseWithASlotThatFailsToOpen checks Close of the pool while a caller opens a
// reader in a slot it was handed: the open fails as the pool is closed, the caller gets
// ErrClosed and the pool counts nothing in use or open.
func TestPoolCloseWithASlotThatFailsToOpen(t *testing.T) {
	_, cn := openConnector(t, &Config{DSN: t.TempDir() + "/c.db", Readers: 1})
	p := cn.readers
	entered, release := make(chan struct{}), make(chan struct{})
	p.mu.Lock()
	open := p.openConn
	p.openConn = func() (*physConn, error) {
		close(entered)
		<-release
		return open()
	}
	p.mu.Unlock()

	got := getAsync(p, background)
	receive(t, entered)
	p.close()
	close(release)
	require.ErrorIs(t, receive(t, got), ErrClosed)
	_, open_, inUse := p.snapshot()
	require.Zero(t, open_)
	require.Zero(t, inUse)
}
