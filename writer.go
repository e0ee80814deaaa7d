//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlite-serial/sqlite-serial/internal/hist"
	"github.com/sqlite-serial/sqlite-serial/internal/turn"
)

// holdKind says what kind of unit of work holds the writer.
type holdKind uint8

const (
	// holdStatement is an autocommit statement or script, with its rows while they are open.
	holdStatement holdKind = iota
	// holdTransaction is a transaction begun with BeginTx.
	holdTransaction
	// holdSQLTransaction is a transaction begun in SQL (BEGIN or SAVEPOINT) on a session.
	holdSQLTransaction
	// holdAccess is a caller of WithWriter.
	holdAccess
)

func (k holdKind) String() string {
	switch k {
	case holdTransaction:
		return "a transaction"
	case holdSQLTransaction:
		return "a transaction begun in SQL"
	case holdAccess:
		return "a caller of WithWriter"
	}
	return "a statement"
}

// writer owns the one writer connection and the turn for it (see internal/turn): the units
// of work that need it wait there in FIFO order, and whoever holds the turn is the only
// user of the connection. Group commit (see batch.go) attaches to the turn's hand-over: a
// holder of a statement leaves its batch open when the unit next in the queue may join it.
type writer struct {
	limit time.Duration // _serial_write_wait
	gate  *gate         // taken exclusively while held, when the database has no WAL
	open  func() (*physConn, error)
	turn  *turn.Turn

	// The fields from here to statsMu are the holder's: only the unit that holds the turn
	// uses them.
	//
	// conn is the physical writer connection. It is nil after it broke, until the next
	// holder opens another. reopen asks the next holder to replace it, as after SQLite
	// refused a write because it opened the file read-only. since is when the holder was
	// granted the turn.
	conn   *physConn
	reopen bool
	since  time.Time

	// checkpoint keeps the WAL bounded (see checkpoint.go).
	checkpoint checkpointer

	// batch is the group commit open on conn, if any (see batch.go); batchMax is the most
	// statements one takes (_serial_batch_max), below 2 for none.
	batch    writeBatch
	batchMax int

	statsMu sync.Mutex
	stats   writerStats // under statsMu
	// logger is Config.Logger, told of checkpoints that could not complete; nil for none.
	// Set before the writer is used.
	logger *slog.Logger
	// records are the holder's log records (of its long wait for the writer, of a
	// checkpoint that could not complete), logged once it gives the writer back, so that
	// a handler that takes long never keeps the writer from the next units; only the holder
	// uses it. A record made while the turn is handed on (a batch's checkpoint) is logged
	// by the holder after the next.
	records []func()

	// batchSizes is the distribution of the statements per committed batch; it needs no
	// lock.
	batchSizes hist.Sizes
	// woken counts the callers of batches that ended who do not have their answer yet (see
	// batchOutcome.member); it needs no lock.
	woken atomic.Int32

	// testHookBatchAsleep and testHookBatchWoke, when set by a test before the writer is
	// used, are called by each caller that waits for its batch's end, once it counts as
	// asleep and once it is woken, before it counts as awake.
	testHookBatchAsleep, testHookBatchWoke func()
}

// readyToRun reports whether goroutines of the writer's units have work the writer's queue
// waits for: a waiter granted the turn that has not run since, or the callers of a batch
// that ended, until each has its answer (the batch's ender among them, as it hands the turn
// on). Such a goroutine may be waiting for a processor while reads that never block keep
// every processor busy, and the writer's turn goes no further until it runs: a read about
// to start yields its processor first (readerPool.take). One already running loses
// nothing by it.
func (w *writer) readyToRun() bool {
	return w.turn.Readied() > 0 || w.woken.Load() > 0
}

// writerStats are the writer's cumulative counters beyond the turn's own.
type writerStats struct {
	batches           uint64 // batches committed (or whose COMMIT failed)
	batched           uint64 // statements in them
	batchMax          int    // the most statements one of them took
	batchesRolledBack uint64 // batches SQLite rolled back on its own, whose statements ran again

	checkpoints checkpointStats
}

// newWriter returns a writer whose turn is free.
func newWriter(limit time.Duration, batchMax int) *writer {
	w := &writer{limit: limit, batchMax: batchMax}
	w.turn = turn.New(ErrClosed, w)
	return w
}

// acquire makes the caller the holder of the writer, waiting in the queue behind every unit
// that came before. It fails without ever granting the writer when ctx is done first (with
// ctx's own error, as mattn/go-sqlite3 returns it), when the wait reaches the write-wait
// limit (a *WriteWaitError that wraps context.DeadlineExceeded), or when the connector is
// closing (ErrClosed). On success the caller must call release exactly once.
func (w *writer) acquire(ctx context.Context, kind holdKind) error {
	return w.acquireUnit(ctx, kind, false)
}

// acquireUnit is acquire for a unit that says whether its statement may join a batch.
func (w *writer) acquireUnit(ctx context.Context, kind holdKind, batchable bool) error {
	start := time.Now()
	if err := w.turn.Acquire(ctx, turn.Unit{Kind: uint8(kind), Batchable: batchable}, w.limit); err != nil {
		var limit *turn.LimitError
		if !errors.As(err, &limit) {
			return err
		}
		e := &WriteWaitError{Waited: limit.Waited, Limit: w.limit, Err: context.DeadlineExceeded}
		if limit.Held {
			e.Holder, e.HeldFor = holdKind(limit.Holder.Kind).String(), limit.HeldFor
		}
		return e
	}
	w.since = time.Now()
	if err := w.acquireGate(ctx, start); err != nil {
		w.handOn()
		return err
	}
	if w.conn == nil || w.reopen || closedUnderneath(w.conn) {
		if w.conn != nil {
			w.conn.Close()
		}
		c, err := w.openWritable(w.reopen)
		w.reopen = false
		if err != nil {
			w.conn = nil
			w.release()
			return err
		}
		w.conn = c
	}
	w.conn.ledger = changeLedger{} // a unit begins with no session's statement under way
	return nil
}

// openWritable opens a writer connection. After SQLite refused a write because it had
// opened the file read-only, the first connection opened again may be read-only still
// (SQLite reuses the file descriptors of the process's closed connections): it is checked
// with a write lock taken and given back, and opened once more if it cannot take it.
func (w *writer) openWritable(check bool) (*physConn, error) {
	c, err := w.open()
	for attempt := 0; err == nil && check && attempt < 2; attempt++ {
		if _, lockErr := c.ExecContext(context.Background(), "BEGIN IMMEDIATE; ROLLBACK", nil); !isReadOnlyError(lockErr) {
			break
		}
		c.Close()
		c, err = w.open()
	}
	return c, err
}

// closedUnderneath reports whether c was closed by someone else than the driver. mattn's
// Ping reports driver.ErrBadConn exactly when the connection has been closed, and costs no
// call into SQLite.
func closedUnderneath(c *physConn) bool {
	return c.Ping(context.Background()) == driver.ErrBadConn
}

// acquireGate takes the gate exclusively, within what is left of the write-wait limit.
func (w *writer) acquireGate(ctx context.Context, start time.Time) error {
	if w.gate == nil {
		return nil
	}
	gctx, cancel := context.WithDeadline(ctx, start.Add(w.limit))
	defer cancel()
	if err := w.gate.acquireExclusive(gctx); err != nil {
		if err == ErrClosed {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return &WriteWaitError{Waited: time.Since(start), Limit: w.limit, Holder: "readers of a database without WAL",
			Err: context.DeadlineExceeded}
	}
	return nil
}

// setKind records that the holder became a different kind of unit, as a statement that
// began a transaction in SQL does.
func (w *writer) setKind(kind holdKind) {
	w.turn.SetKind(uint8(kind))
}

// release ends the caller's hold and hands the writer to the next waiter, after a
// checkpoint if the WAL grew past its limit.
func (w *writer) release() {
	if !w.batch.open {
		w.afterUnit(time.Since(w.since))
	} // else commitBatch checks the WAL once the batch is committed
	w.gate.releaseExclusive()
	w.handOn()
}

// handOn hands the writer's turn on, then logs the holder's records: the next holder does
// not wait for the logger.
func (w *writer) handOn() {
	records := w.records
	w.records = nil
	w.turn.Release()
	for _, record := range records {
		record()
	}
}

// adoptImage copies the writer connection's main database, deserialized into memory, into
// the database file through a new writer connection, which replaces it. Only the holder
// calls it. On failure the writer is replaced all the same, and the file is as it was
// unless the copy failed part way.
func (w *writer) adoptImage() error {
	image := w.conn
	w.conn = nil
	defer image.Close()
	file, err := w.open()
	if err != nil {
		return err
	}
	w.conn = file
	b, err := file.Backup("main", image.SQLiteConn, "main")
	if err != nil {
		return fmt.Errorf("sqliteserial: WithWriter: copying the deserialized image into the database file: %w", err)
	}
	_, err = b.Step(-1)
	if ferr := b.Finish(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("sqliteserial: WithWriter: copying the deserialized image into the database file: %w", err)
	}
	return nil
}

// replaceNext asks the next holder to replace the connection: SQLite opened the file
// read-only, and once it is writable again only a new connection writes. Only the holder
// calls it.
func (w *writer) replaceNext() {
	w.reopen = true
}

// checkBroken drops the connection after an error when it can no longer be used, so the
// next holder opens another. Only the holder calls it.
func (w *writer) checkBroken() {
	if w.conn != nil && closedUnderneath(w.conn) {
		w.conn.Close()
		w.conn = nil
	}
}

// refuse refuses every waiter and every later acquire, for Close.
func (w *writer) refuse() {
	w.turn.Refuse()
}

// shutdown checkpoints the WAL into the database file and closes the connection. It is
// called after refuse, once the calls running inside the driver have returned. A writer
// still held then is held by what the program left open (rows, a transaction): its
// connection is closed when the holder releases it, without a checkpoint. The checkpoint
// never waits: a read of another process or another handle that keeps it from completing
// leaves the WAL as it is, and no lock is held waiting for it.
func (w *writer) shutdown(checkpoint bool) error {
	if !w.turn.Drain(w.closeConn) {
		return nil
	}
	c := w.conn
	w.conn = nil
	if c == nil {
		return nil
	}
	if checkpoint {
		if _, err := c.ExecContext(context.Background(), "PRAGMA busy_timeout = 0", nil); err == nil {
			_, _ = c.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)", nil)
		}
	}
	return c.Close()
}

// closeConn closes the writer connection, for the last holder after shutdown.
func (w *writer) closeConn() {
	if c := w.conn; c != nil {
		w.conn = nil
		c.Close()
	}
}

// holder returns what holds the writer and since how long, or "" when it is free.
func (w *writer) holder() (string, time.Duration) {
	u, heldFor, held := w.turn.Holder()
	if !held {
		return "", 0
	}
	return holdKind(u.Kind).String(), heldFor
}

// snapshot returns the writer's counters, the turn's and the queue's depth.
func (w *writer) snapshot() (writerStats, turn.Stats, int) {
	ts, depth := w.turn.Stats()
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	return w.stats, ts, depth
}

// closedBy reports whether ch is closed by deadline, waiting until then at most.
func closedBy(ch <-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return false
	}
}
