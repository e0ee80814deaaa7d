//go:build cgo

package sqliteserial

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlite-serial/sqlite-serial/internal/hist"
)

// readerPool holds the reader connections: query-only connections opened lazily, each used
// by one logical connection at a time. A reader is handed out and given back under one short
// lock. A caller that finds none idle opens another, up to max (_serial_readers_max); at max
// it waits in FIFO order, and a reader given back goes straight to the first waiter, so a
// burst of goroutines never opens more connections than max, where mattn's unbounded pool
// can run out of file descriptors. The pool keeps limit readers (_serial_readers); those
// beyond it stay open while openings beyond it keep happening (within readerOverflowKeep of
// the last) and are closed as they come back otherwise.
type readerPool struct {
	openConn func() (*physConn, error)
	gate     *gate       // one share per reader in use, when the database has no WAL
	reads    *readEpochs // the reads under way, for checkpoints
	limit    int         // the readers kept
	max      int         // the most readers open at once, but for nested reads and overflows
	// overflowAfter is how long a caller waits at max before it opens a reader beyond it, up
	// to ceiling: twice max, within the process's open-files limit.
	overflowAfter time.Duration
	ceiling       int
	// fileEpoch counts the statements run elsewhere that may have changed a value of the
	// database file's header (fileChanged); a reader handed out reads the file again when
	// it last did so in an older epoch (physConn.fileEpoch).
	fileEpoch atomic.Uint64

	mu      sync.Mutex
	idle    []*physConn      // readers ready for use, the most recently used last
	count   int              // readers open or being opened
	inUse   int              // readers handed out
	waiters []chan *physConn // callers waiting for a reader; the pool's close sends nil
	closed  bool
	off     bool // readers coming back are closed: the database is in exclusive locking mode
	stats   readerStats
	// active counts the readers in use by the parity of the epoch (reads.epoch) they were
	// handed out in: a reader in use is a read under way, for checkpoints. When drainCh is
	// set, it is closed once active[drainParity] reaches zero (readEpochs.waitForEarlier).
	active      [2]int
	drainParity uint64
	drainCh     chan struct{}
	// lastOverflow is when a caller last opened a reader beyond the limit.
	lastOverflow time.Time
	// waitTimes is the distribution of how long reads waited for a reader: zero when one
	// was idle, else the time to open one or to be handed one at max; a read that gave up
	// or failed is not in it. It needs no lock.
	waitTimes hist.Durations
	// writer, when set (before the pool is used), is the writer whose goroutines a read
	// yields to when they have work its queue waits for (writer.readyToRun); yields counts
	// the reads that did.
	writer *writer
	yields atomic.Uint64

	// testHookWaiting, when set by a test, is called under mu each time a caller starts
	// waiting for a reader.
	testHookWaiting func()
	// testHookGaveUp, when set by a test before the pool is used, is called without mu when
	// a waiting caller's context ended, before it leaves the queue.
	testHookGaveUp func()
}

// readerStats are the pool's cumulative counters.
type readerStats struct {
	opened     uint64 // physical readers opened
	acquired   uint64 // readers handed out
	maxInUse   int    // the most readers in use at once
	overflowed uint64 // readers opened beyond the limit for a caller that waited too long
}

// waitTimers holds stopped timers for a caller that waits at max: a wait is common under
// load, and a timer made and dropped each time costs more than the hand-out itself.
var waitTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// How long a caller waits at max before it opens a reader beyond it, and how long after the
// last reader opened beyond the limit readers beyond it are kept when they come back.
const (
	readerOverflowAfter = 100 * time.Millisecond
	readerOverflowKeep  = time.Second
)

func newReaderPool(limit, most int, open func() (*physConn, error), g *gate) *readerPool {
	ceiling := 2 * most
	if files := openFilesLimit(); files > 0 {
		ceiling = min(ceiling, max(int(min(files/4, 1<<20)), most))
	}
	return &readerPool{openConn: open, gate: g, limit: limit, max: most, overflowAfter: readerOverflowAfter, ceiling: ceiling}
}

// get hands out an idle reader, opens a new one while fewer than max are open, or waits
// for one to come back, in FIFO order, until ctx is done. A nested read, by a caller that
// holds a reader already, never waits for readers others hold: with none idle it opens one
// at once, beyond max too, as plain mattn/go-sqlite3 opens another connection; nested
// reads cannot wait for each other, and the readers open stay below max plus one per
// level of nesting of the reads under way.
func (p *readerPool) get(ctx context.Context, nested bool) (*physConn, error) {
	if err := p.gate.acquireShared(ctx); err != nil {
		return nil, err
	}
	c, err := p.take(ctx, nested)
	if err == nil {
		err = p.refresh(c)
	}
	if err != nil {
		p.gate.releaseShared()
		return nil, err
	}
	return c, nil
}

// fileChanged records that a statement may have changed a value SQLite keeps in the
// database file's header (page_size, auto_vacuum, encoding), which a connection answers
// from what it last read of the file.
func (p *readerPool) fileChanged() {
	p.fileEpoch.Add(1)
}

// refresh makes c, just handed out, read the file's header again if it last did so before
// the latest fileChanged: a statement that begins a read does.
func (p *readerPool) refresh(c *physConn) error {
	e := p.fileEpoch.Load()
	if c.fileEpoch == e {
		return nil
	}
	// Not through run: a prepared statement mattn has stepped to its row stays in its read
	// until it is reset.
	if _, err := c.ExecContext(context.Background(), "PRAGMA schema_version", nil); err != nil {
		p.giveBack(c, true)
		return err
	}
	c.fileEpoch = e
	return nil
}

func (p *readerPool) take(ctx context.Context, nested bool) (_ *physConn, err error) {
	if p.writer != nil && p.writer.readyToRun() {
		// Reads that never block would keep every processor until the scheduler preempts
		// them, 10ms on, while the writer's queue waits for one goroutine of its own.
		p.yields.Add(1)
		runtime.Gosched()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		c.readEpoch = p.handOutLocked()
		p.mu.Unlock()
		p.waitTimes.ObserveZero()
		if closedUnderneath(c) {
			return p.replace(c)
		}
		return c, nil
	}
	start := time.Now()
	defer func() {
		// A read that gave up, or found the pool closed, was handed no reader.
		if err == nil {
			p.waitTimes.Observe(time.Since(start))
		}
	}()
	if p.count < p.max || nested {
		if p.count >= p.limit {
			p.stats.overflowed++
			p.lastOverflow = time.Now()
		}
		p.count++
		e := p.handOutLocked()
		p.mu.Unlock()
		return p.openInSlot(e)
	}
	wait := make(chan *physConn, 1)
	p.waiters = append(p.waiters, wait)
	if p.testHookWaiting != nil {
		p.testHookWaiting()
	}
	p.mu.Unlock()

	timer := waitTimers.Get().(*time.Timer)
	timer.Reset(p.overflowAfter)
	defer func() {
		timer.Stop()
		waitTimers.Put(timer)
	}()
	overflowAt := timer.C
	for {
		select {
		case c := <-wait:
			return p.received(c)
		case <-ctx.Done():
			return p.gaveUp(ctx, wait)
		case <-overflowAt:
		}
		// Every reader stayed in use: each may be held by rows whose users wait for another
		// reader (a query inside a loop over rows, through the *sql.DB, where nesting is not
		// seen). Open one beyond max, up to the ceiling; beyond it the wait goes on.
		overflowAt = nil
		p.mu.Lock()
		i := slices.Index(p.waiters, wait)
		switch {
		case i < 0:
			p.mu.Unlock()
			return p.received(<-wait) // handed a reader (or a slot) just as the wait ran long
		case p.closed || p.count >= p.ceiling:
			p.mu.Unlock()
			continue
		}
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.count++
		e := p.handOutLocked()
		p.stats.overflowed++
		p.lastOverflow = time.Now()
		p.mu.Unlock()
		return p.openInSlot(e)
	}
}

// gaveUp takes a waiter whose context ended out of the queue. A reader (or a slot) handed
// over as ctx ended goes back to the pool, which counted it as handed out. No share of the
// gate is given back here: get gives back the share it took.
func (p *readerPool) gaveUp(ctx context.Context, wait chan *physConn) (*physConn, error) {
	if p.testHookGaveUp != nil {
		p.testHookGaveUp()
	}
	p.mu.Lock()
	if i := slices.Index(p.waiters, wait); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.mu.Unlock()
		return nil, ctx.Err()
	}
	p.mu.Unlock()
	if c := <-wait; c != nil && c.slot {
		p.mu.Lock()
		p.giveUpSlotLocked(c.readEpoch)
		p.mu.Unlock()
	} else if c != nil {
		p.giveBack(c, false)
	}
	return nil, ctx.Err()
}

// received is what a waiter got: a reader handed over by put, already counted as in use,
// or nil when the pool closed.
func (p *readerPool) received(c *physConn) (*physConn, error) {
	switch {
	case c == nil:
		return nil, ErrClosed
	case c.slot:
		return p.openInSlot(c.readEpoch)
	case closedUnderneath(c):
		return p.replace(c)
	}
	return c, nil
}

// handOutLocked counts a reader handed out, as a read under way, and returns the epoch the
// read begins in, which the reader's readEpoch must carry until it is given back.
func (p *readerPool) handOutLocked() uint64 {
	p.inUse++
	p.stats.acquired++
	p.stats.maxInUse = max(p.stats.maxInUse, p.inUse)
	var e uint64
	if p.reads != nil {
		e = p.reads.epoch.Load()
		p.active[e&1]++
	}
	return e
}

// releaseLocked undoes handOutLocked for a read that began in epoch e: it wakes a
// checkpoint waiting for the reads of e's parity once the last ends, and the pool's close
// once nothing is in use.
func (p *readerPool) releaseLocked(e uint64) {
	p.inUse--
	if p.reads != nil {
		i := e & 1
		p.active[i]--
		if p.active[i] == 0 && p.drainCh != nil && p.drainParity == i {
			close(p.drainCh)
			p.drainCh = nil
		}
	}
}

// giveUpSlotLocked frees a slot handed out in epoch e in which no reader was opened, for
// the next waiter.
func (p *readerPool) giveUpSlotLocked(e uint64) {
	p.count--
	p.releaseLocked(e)
	p.wakeForSlotLocked()
}

// replace closes a reader that was closed underneath and opens another in its slot, for
// the caller that was handed it.
func (p *readerPool) replace(c *physConn) (*physConn, error) {
	c.Close()
	return p.openInSlot(c.readEpoch)
}

// openInSlot opens a reader in a slot already counted, and in use by the caller since
// epoch e.
func (p *readerPool) openInSlot(e uint64) (*physConn, error) {
	c, err := p.openConn()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil && p.closed {
		c.Close()
		err = ErrClosed
	}
	if err != nil {
		p.giveUpSlotLocked(e)
		return nil, err
	}
	p.stats.opened++
	c.readEpoch = e
	return c, nil
}

// wakeForSlotLocked hands a slot that was freed to the first waiter, which opens a reader
// in it: opening takes too long to do under mu, so the waiter is sent a placeholder with
// slot set.
func (p *readerPool) wakeForSlotLocked() {
	if len(p.waiters) == 0 || p.closed {
		return
	}
	w := p.waiters[0]
	p.waiters = p.waiters[1:]
	p.count++
	w <- &physConn{slot: true, readEpoch: p.handOutLocked()}
}

// put gives a reader back. When suspect is set, a reader left inside a transaction is
// rolled back first; one that cannot be, or that broke, is closed and its slot freed for a
// new one.
func (p *readerPool) put(c *physConn, broken, suspect bool) {
	broken = broken || closedUnderneath(c)
	if !broken && suspect && !c.AutoCommit() {
		_, err := c.ExecContext(context.Background(), "ROLLBACK", nil)
		broken = err != nil
	}
	p.giveBack(c, broken)
	p.gate.releaseShared()
}

// giveBack returns a reader handed out by the pool to the pool's own accounting, which ends
// the read it was handed out for: to the first waiter, to the idle readers, or, when it
// broke or the pool closed, closed. It does not release the gate; put, which does, is what
// a reader's user calls.
func (p *readerPool) giveBack(c *physConn, broken bool) {
	p.mu.Lock()
	p.releaseLocked(c.readEpoch)
	switch {
	case p.closed || broken || p.off:
		p.count--
		p.wakeForSlotLocked()
		p.mu.Unlock()
		c.Close()
	case len(p.waiters) > 0:
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		c.readEpoch = p.handOutLocked()
		p.mu.Unlock()
		w <- c
	case p.count > p.limit && time.Since(p.lastOverflow) > readerOverflowKeep:
		p.count--
		p.mu.Unlock()
		c.Close()
	default:
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
}

// closeIdle closes the idle readers, and when off is set, the readers that come back from
// then on, until closeIdle(false).
func (p *readerPool) closeIdle(off bool) {
	p.mu.Lock()
	p.off = off
	idle := p.takeIdleLocked()
	p.mu.Unlock()
	closeAll(idle)
}

// takeIdleLocked takes the idle readers out of the pool, for the caller to close.
func (p *readerPool) takeIdleLocked() []*physConn {
	idle := p.idle
	p.idle = nil
	p.count -= len(idle)
	return idle
}

// close refuses new hand-outs and waiters and closes the idle readers; the readers in use
// (by rows or a read-only transaction the program left open) are closed as they come back.
func (p *readerPool) close() {
	p.mu.Lock()
	p.closed = true
	for _, w := range p.waiters {
		w <- nil
	}
	p.waiters = nil
	idle := p.takeIdleLocked()
	p.mu.Unlock()
	closeAll(idle)
}

func closeAll(cs []*physConn) {
	for _, c := range cs {
		c.Close()
	}
}

// snapshot returns the pool's counters, the readers open and those in use.
func (p *readerPool) snapshot() (readerStats, int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats, p.count, p.inUse
}
