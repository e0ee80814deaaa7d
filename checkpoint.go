//go:build cgo

package sqliteserial

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite checkpoints the WAL by itself (PASSIVE, every 1000 pages by default), but it can
// only start the WAL over from its beginning when no reader is still reading an older
// snapshot; while reads overlap without pause, the WAL file grows without bound. The
// writer therefore watches the WAL's size and, past _serial_wal_limit, checkpoints it
// itself, between two units of work, while no write can run:
//
//  1. it waits until every read that began before now has ended: the reads under way then
//     all see the latest snapshot, so a PASSIVE checkpoint can copy the whole WAL into the
//     database;
//  2. it waits again until every read that began before that copy has ended: the reads
//     under way then all read the database file alone (SQLite gives a read that begins
//     after a complete copy no hold on the WAL);
//  3. PRAGMA wal_checkpoint(TRUNCATE) then starts the WAL over and truncates the file.
//
// The waits are in Go, on the reads the driver hands out, and end as soon as the reads
// they wait for do; new reads are not held back meanwhile. Writes wait, as the writer is
// busy. Each wait is bounded by a quarter of the write-wait limit; if a read outlasts it,
// the writer tries again a little later.

// checkpointEvery is how many units of work may pass between two looks at the WAL's size,
// unless a unit held the writer for longer than checkpointLookAfter.
const (
	checkpointEvery     = 32
	checkpointLookAfter = time.Millisecond
)

// checkpointer is the writer's WAL watch. Only the holder of the writer touches it but for
// stats, which are under the writer's statsMu.
type checkpointer struct {
	limit   int64         // the WAL size that triggers a checkpoint; 0 when off
	wait    time.Duration // how long a checkpoint waits for readers
	walPath string        // the WAL file; empty when the database is not in WAL mode
	units   int           // units of work since the last look
	reads   *readEpochs   // the reads under way
}

// checkpointStats count the checkpoints the writer ran.
type checkpointStats struct {
	runs       uint64 // checkpoints run
	incomplete uint64 // of which could not finish before readers of older snapshots did
}

// afterUnit looks at the WAL after a unit of work that held the writer for held, before the
// writer is handed on, and checkpoints it when it is over the limit.
func (w *writer) afterUnit(held time.Duration) {
	cp := &w.checkpoint
	if cp.limit <= 0 || cp.walPath == "" || w.conn == nil {
		return
	}
	cp.units++
	if cp.units < checkpointEvery && held < checkpointLookAfter {
		return
	}
	cp.units = 0
	if info, err := os.Stat(cp.walPath); err != nil || info.Size() <= cp.limit {
		return
	}
	complete := w.checkpointWAL() == nil
	w.statsMu.Lock()
	w.stats.checkpoints.runs++
	if !complete {
		w.stats.checkpoints.incomplete++
	}
	w.statsMu.Unlock()
}

// checkpointWAL checkpoints the WAL and truncates it, as the comment at the top of this
// file says. It returns an error when it could not finish.
func (w *writer) checkpointWAL() error {
	c := w.conn
	if !c.AutoCommit() {
		return fmt.Errorf("sqliteserial: checkpoint: the writer is inside a transaction")
	}
	deadline := time.Now().Add(w.checkpoint.wait)
	if !w.checkpoint.reads.waitForEarlier(deadline) {
		return errCheckpointOutlasted
	}
	if _, err := c.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)", nil); err != nil {
		return err
	}
	if !w.checkpoint.reads.waitForEarlier(deadline) {
		return errCheckpointOutlasted
	}
	// The classifier or a reader may be just starting; a short busy wait covers them.
	previous, err := queryText(c.SQLiteConn, "PRAGMA busy_timeout")
	if err != nil {
		return err
	}
	if _, err := c.ExecContext(context.Background(), "PRAGMA busy_timeout = 100", nil); err != nil {
		return err
	}
	busy, err := queryText(c.SQLiteConn, "PRAGMA wal_checkpoint(TRUNCATE)")
	if _, rerr := c.ExecContext(context.Background(), "PRAGMA busy_timeout = "+previous, nil); err == nil {
		err = rerr
	}
	if err == nil && busy != "0" {
		err = errCheckpointOutlasted
	}
	return err
}

// errCheckpointOutlasted is a checkpoint that reads kept from finishing in time.
var errCheckpointOutlasted = fmt.Errorf("sqliteserial: checkpoint: reads of older snapshots outlasted the wait")

// readEpochs tracks the reads under way by the epoch they began in, so that a checkpoint
// can wait for exactly the reads that may hold an older snapshot, while new reads go on.
// Only the writer's holder advances the epoch, and only once the reads of the epoch before
// the current one have ended, so two counters, by the epoch's parity, suffice: one for the
// reads that began in the current epoch, one for those a checkpoint waits for. The reader
// pool counts the reads on its readers itself, under its own lock, as it hands readers out
// and takes them back (readerPool.active); the reads of session connections register here,
// at the cost of an atomic add.
type readEpochs struct {
	epoch  atomic.Uint64
	active [2]atomic.Int64 // session reads under way, by the parity of the epoch they began in
	pool   *readerPool     // counts the reads on readers; set when the connector starts

	mu      sync.Mutex
	drained chan struct{} // closed when the counter waited for reaches zero
}

// begin registers a read and returns its epoch, for end. A read that loads the old epoch
// just as it ends is counted with the old one and waited for, which is harmless.
func (r *readEpochs) begin() uint64 {
	e := r.epoch.Load()
	r.active[e&1].Add(1)
	return e
}

// end ends a read that began in epoch.
func (r *readEpochs) end(epoch uint64) {
	if r.active[epoch&1].Add(-1) != 0 {
		return
	}
	r.mu.Lock()
	if r.drained != nil && r.active[(r.epoch.Load()+1)&1].Load() == 0 {
		close(r.drained)
		r.drained = nil
	}
	r.mu.Unlock()
}

// waitForEarlier starts a new epoch and waits until every read that began before it has
// ended, or until deadline. It reports whether they all ended. The epoch changes under the
// reader pool's lock, so that every reader handed out is counted either before the change,
// and waited for, or after it.
func (r *readEpochs) waitForEarlier(deadline time.Time) bool {
	r.mu.Lock()
	old := r.epoch.Load()
	previous, current := (old+1)&1, old&1
	p := r.pool
	p.mu.Lock()
	if r.active[previous].Load() != 0 || p.active[previous] != 0 {
		// Reads of the epoch before, which an earlier wait gave up on, are still under
		// way: their counters are not free for the new epoch yet.
		p.mu.Unlock()
		r.mu.Unlock()
		return false
	}
	r.epoch.Store(old + 1)
	var poolDrained chan struct{}
	if p.active[current] != 0 {
		poolDrained = make(chan struct{})
		p.drainCh, p.drainParity = poolDrained, current
	}
	p.mu.Unlock()
	var drained chan struct{}
	if r.active[current].Load() != 0 {
		drained = make(chan struct{})
		r.drained = drained
	}
	r.mu.Unlock()
	if (poolDrained == nil || closedBy(poolDrained, deadline)) && (drained == nil || closedBy(drained, deadline)) {
		return true
	}
	r.mu.Lock()
	r.drained = nil
	done := r.active[current].Load() == 0
	r.mu.Unlock()
	p.mu.Lock()
	p.drainCh = nil
	done = done && p.active[current] == 0
	p.mu.Unlock()
	return done
}

// underway returns the number of reads under way, on readers and session connections.
func (r *readEpochs) underway() int64 {
	p := r.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	return r.active[0].Load() + r.active[1].Load() + int64(p.active[0]+p.active[1])
}
