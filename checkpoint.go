//go:build cgo

package sqliteserial

import (
	"context"
	"encoding/binary"
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
// the writer tries again a little later. The TRUNCATE itself never waits (busy timeout 0):
// it holds SQLite's write lock only while it runs.
//
// A reader outside the driver (Litestream keeps a read open on purpose; another *sql.DB on
// the file) can keep the TRUNCATE from finishing after both waits, when every read of the
// driver's that may use the WAL has ended. The writer then backs off: it tries again only once the WAL grew by a quarter of
// the limit (at least 1 MiB) and a while passed (checkpointBackoff, doubling after each
// blocked try up to checkpointBackoffMax), so a small limit does not make it try after
// every write, and it leaves the WAL to the other process meanwhile.
//
// The writer looks at the WAL's size every checkpointEvery units of work, and after a unit
// that held it for checkpointLookAfter; it checkpoints once the WAL passes seven eighths of
// the limit, so that the units between two looks keep it below the limit itself.

// checkpointEvery is how many units of work may pass between two looks at the WAL's size,
// unless a unit held the writer for longer than checkpointLookAfter.
const (
	checkpointEvery     = 32
	checkpointLookAfter = time.Millisecond
)

// checkpointBackoff is how long the writer waits before it tries a checkpoint again after a
// reader outside the driver blocked one; it doubles with each blocked try, up to
// checkpointBackoffMax. checkpointGrowthMin is the least the WAL must grow by meanwhile.
const (
	checkpointBackoff    = 500 * time.Millisecond
	checkpointBackoffMax = 30 * time.Second
	checkpointGrowthMin  = 1 << 20
)

// checkpointer is the writer's WAL watch. Only the holder of the writer touches it but for
// stats, which are under the writer's statsMu.
type checkpointer struct {
	limit   int64         // the WAL size the driver keeps the WAL below; 0 when off
	wait    time.Duration // how long a checkpoint waits for readers
	walPath string        // the WAL file; empty when the database is not in WAL mode
	units   int           // units of work since the last look
	reads   *readEpochs   // the reads under way
	// blockedAt is when a reader outside the driver last blocked a checkpoint (zero when
	// the last one finished), blockedSize the WAL's size then, and backoff how long the
	// writer waits from then on before it tries again.
	blockedAt   time.Time
	blockedSize int64
	backoff     time.Duration
	// blockedSalts are the WAL header's salts when the checkpoint was blocked: SQLite
	// changes them each time it starts the WAL over, which it does in place, without the
	// file growing, once nothing reads the WAL any more.
	blockedSalts uint64
	// every is how many units pass before the next look (checkpointEvery, or fewer when
	// that many would write more than the last eighth of the limit); lastSize is the WAL's
	// size at the last look, after its checkpoint if one ran.
	every    int
	lastSize int64
}

// walSalts returns the two salts of the WAL header at path, or 0.
func walSalts(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], 16); err != nil {
		return 0
	}
	return binary.BigEndian.Uint64(b[:])
}

// checkpointStats count the checkpoints the writer ran.
type checkpointStats struct {
	runs       uint64 // checkpoints run
	incomplete uint64 // of which could not finish before readers of older snapshots did
	blocked    uint64 // of which a reader outside the driver kept from finishing
}

// due reports whether a WAL of size bytes is to be checkpointed now.
func (cp *checkpointer) due(size int64) bool {
	if size <= cp.limit-cp.limit/8 {
		return false
	}
	if cp.blockedAt.IsZero() {
		return true
	}
	if time.Since(cp.blockedAt) < cp.backoff {
		return false
	}
	// The WAL grew, or it was started over (whoever blocked the checkpoint may be gone; the
	// file does not grow then, however much is written).
	return size >= cp.blockedSize+max(cp.limit/4, checkpointGrowthMin) || walSalts(cp.walPath) != cp.blockedSalts
}

// outcome records how the checkpoint of a WAL of size bytes ended.
func (cp *checkpointer) outcome(size int64, err error) {
	switch {
	case err == nil:
		cp.blockedAt, cp.backoff = time.Time{}, 0
	case err == errCheckpointBlocked:
		cp.blockedAt, cp.blockedSize, cp.blockedSalts = time.Now(), size, walSalts(cp.walPath)
		cp.backoff = min(max(2*cp.backoff, checkpointBackoff), checkpointBackoffMax)
	}
}

// plan sets how many units pass before the next look, from how much the units since the
// last look grew the WAL to size: checkpointEvery, or fewer when that many would write more
// than the last eighth of the limit. after is the WAL's size once the look is done (0 after
// a checkpoint that truncated it).
func (cp *checkpointer) plan(units int, size, after int64) {
	grown := size - cp.lastSize // 0 or less: started over in place, no sign of growth
	cp.lastSize = after
	cp.every = checkpointEvery
	if perUnit := grown / int64(max(units, 1)); perUnit > 0 {
		cp.every = int(min(max(cp.limit/8/perUnit, 1), checkpointEvery))
	}
}

// afterUnit looks at the WAL after a unit of work that held the writer for held, before the
// writer is handed on, and checkpoints it when it is over the limit.
func (w *writer) afterUnit(held time.Duration) {
	cp := &w.checkpoint
	if cp.limit <= 0 || cp.walPath == "" || w.conn == nil {
		return
	}
	cp.units++
	if cp.units < max(cp.every, 1) && held < checkpointLookAfter {
		return
	}
	units := cp.units
	cp.units = 0
	info, err := os.Stat(cp.walPath)
	if err != nil {
		return
	}
	size := info.Size()
	if !cp.due(size) {
		cp.plan(units, size, size)
		return
	}
	err = w.checkpointWAL()
	cp.outcome(size, err)
	if err != nil {
		w.logCheckpoint(size, err)
		cp.plan(units, size, size)
	} else {
		cp.plan(units, size, 0)
	}
	w.statsMu.Lock()
	w.stats.checkpoints.runs++
	if err != nil {
		w.stats.checkpoints.incomplete++
	}
	if err == errCheckpointBlocked {
		w.stats.checkpoints.blocked++
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
	// No busy wait: SQLite's write lock is held only while the checkpoint runs.
	previous, err := queryText(c.SQLiteConn, "PRAGMA busy_timeout")
	if err != nil {
		return err
	}
	if _, err := c.ExecContext(context.Background(), "PRAGMA busy_timeout = 0", nil); err != nil {
		return err
	}
	busy, err := queryText(c.SQLiteConn, "PRAGMA wal_checkpoint(TRUNCATE)")
	if _, rerr := c.ExecContext(context.Background(), "PRAGMA busy_timeout = "+previous, nil); rerr != nil {
		// The writer must not go on without its busy timeout: the next holder opens another.
		c.Close()
		w.conn = nil
		if err == nil {
			err = rerr
		}
	}
	if err == nil && busy != "0" {
		// Every read of the driver's that began before the complete copy has ended, and
		// later reads do not use the WAL: the reader that keeps it is someone else's.
		err = errCheckpointBlocked
	}
	return err
}

// errCheckpointOutlasted is a checkpoint that reads kept from finishing in time;
// errCheckpointBlocked one that a reader outside the driver kept from finishing.
var (
	errCheckpointOutlasted = fmt.Errorf("sqliteserial: checkpoint: reads of older snapshots outlasted the wait")
	errCheckpointBlocked   = fmt.Errorf("sqliteserial: checkpoint: a reader outside the driver keeps the WAL")
)

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
