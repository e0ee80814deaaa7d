// Package turn is the writer's turn of the sqlite-serial driver: one unit of work holds it
// at a time, and the others wait for it in a queue served in FIFO order.
//
// Whoever holds the turn is the only user of what it guards, and hands it directly to the
// head of the queue when it releases it, so a unit that arrives later never overtakes one
// that came earlier. A waiter gives up when its context ends or when it has waited as long
// as its limit allows, and never holds the turn then. Because every waiter is a record in
// the queue rather than a goroutine parked on a mutex, the holder can see what waits behind
// it: a batch (see Batch) stays open across a hand-over only when the head of the queue may
// join it, decided under the same lock as the hand-over.
package turn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlite-serial/sqlite-serial/internal/hist"
)

// A Unit describes a unit of work that waits for or holds the turn.
type Unit struct {
	// Kind is the user's own tag for what the unit is; the turn only reports it back.
	Kind uint8
	// Batchable is set for a unit that may join a batch the holder before it left open.
	Batchable bool
}

// A LimitError is the error of a unit that waited as long as its limit allows.
type LimitError struct {
	// Waited is how long the unit waited.
	Waited time.Duration
	// Held is set when a unit held the turn as the wait ended: Holder, for HeldFor.
	Held    bool
	Holder  Unit
	HeldFor time.Duration
}

func (e *LimitError) Error() string {
	return "turn: gave up waiting after " + e.Waited.String()
}

// A Batch is the user's batch, which a holder may leave open for the next holder.
type Batch interface {
	// Ends reports whether a batch is open and must end before the turn is handed on: next
	// is the head of the queue, when waiting is set. It is called under the turn's lock by
	// the holder that releases the turn, so no unit joins the queue between its answer and
	// the hand-over; it must not call the turn.
	Ends(next Unit, waiting bool) bool
	// End ends the batch open. The releasing holder calls it, without the turn's lock, when
	// Ends said so.
	End()
}

// Stats are a turn's cumulative counters.
type Stats struct {
	// Units counts the units granted the turn; Waits those among them that queued first,
	// for WaitTotal in all and WaitMax at most.
	Units, Waits       uint64
	WaitTotal, WaitMax time.Duration
	// HoldTotal and HoldMax are the time the turn was held, in all and at most.
	HoldTotal, HoldMax time.Duration
	// GaveUp counts the waiters that gave up: their context ended or their limit passed.
	GaveUp uint64
}

// waiter is one unit waiting in the queue.
type waiter struct {
	ready   chan struct{} // closed when the waiter is granted the turn or refused
	unit    Unit
	since   time.Time // when it joined the queue
	granted bool      // set under Turn.mu before ready is closed
	// prev and prevHeld are the unit that handed the turn to the waiter and how long it
	// held it, set with granted: what a waiter granted the turn as its limit passed waited
	// for.
	prev     Unit
	prevHeld time.Duration
	// waited is how long it queued, set with granted.
	waited time.Duration
	// longest and longestHeld are the unit that held the turn longest while the waiter
	// queued and how long it held it, updated under Turn.mu at each hand-over: what a long
	// wait is reported to have waited for (see ReportWaitsOver).
	longest     Unit
	longestHeld time.Duration
	err         error // set under Turn.mu before ready is closed when the queue refuses it
}

// waitTimers holds stopped timers for the wait limit: a unit that waits is common under
// load, and a timer made and dropped each time costs more than the hand-over itself.
var waitTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// A Turn is one writer's turn. Its zero value is not usable; New makes one.
type Turn struct {
	closed error // what Acquire returns once Refuse ran
	batch  Batch // nil when the user leaves no batch open

	// mu guards every field below. The holder's fields (holder, since) change with the
	// hand-over, and holder.Kind when the holder calls SetKind.
	mu      sync.Mutex
	held    bool
	holder  Unit
	since   time.Time
	queue   []*waiter
	closing bool
	// drained is what Drain left for the holder to run once it frees the turn.
	drained  func()
	stats    Stats
	onQueued func(depth int)

	// slowWait is called by a waiter granted the turn after waiting longer than
	// slowWaitOver (see ReportWaitsOver). Set before the turn is used.
	slowWait     func(waited time.Duration, longest Unit, held time.Duration)
	slowWaitOver time.Duration

	// waitTimes and holdTimes are the distributions of how long units waited for the turn
	// (zero for one that found it free) and held it; they need no lock.
	waitTimes, holdTimes hist.Durations

	// readied counts the waiters granted the turn whose goroutines have not run since. It
	// needs no lock.
	readied atomic.Int32
}

// Readied reports how many waiters were granted the turn and have not run since: their
// goroutines are ready to run, and may be waiting for a processor.
func (t *Turn) Readied() int32 { return t.readied.Load() }

// New returns a free turn. Acquire fails with closed, which must not be nil, once Refuse
// ran; batch, which may be nil, is asked at each release whether a batch left open ends
// first.
func New(closed error, batch Batch) *Turn {
	return &Turn{closed: closed, batch: batch}
}

// Acquire makes the caller the holder of the turn, waiting in the queue behind every unit
// that came before. It fails without ever granting the turn when ctx is done first (with
// ctx's own error), when the wait reaches limit (a *LimitError), or once Refuse ran (the
// error given to New). On success the caller must call Release exactly once.
func (t *Turn) Acquire(ctx context.Context, u Unit, limit time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return t.closed
	}
	if !t.held && len(t.queue) == 0 {
		t.held, t.holder, t.since = true, u, start
		t.stats.Units++
		t.mu.Unlock()
		t.waitTimes.ObserveZero()
		return nil
	}
	w, err := t.wait(ctx, u, start, limit)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		// Granted just as the caller gave up: the unit must not run.
		t.mu.Lock()
		t.stats.GaveUp++
		t.mu.Unlock()
		t.release(w)
		return err
	}
	// Only a unit that runs is in the wait distribution and reported: one granted the
	// turn as it gave up waited for nothing.
	t.waitTimes.Observe(w.waited)
	if t.slowWait != nil {
		if waited := time.Since(start); waited > t.slowWaitOver {
			t.slowWait(waited, w.longest, w.longestHeld)
		}
	}
	return nil
}

// wait queues a waiter and blocks until it is granted the turn or gives up. It is called
// with t.mu held and returns with it released. On success it returns the waiter, granted.
func (t *Turn) wait(ctx context.Context, u Unit, start time.Time, limit time.Duration) (*waiter, error) {
	w := &waiter{ready: make(chan struct{}), unit: u, since: start}
	t.queue = append(t.queue, w)
	if t.onQueued != nil {
		t.onQueued(len(t.queue))
	}
	t.mu.Unlock()

	timer := waitTimers.Get().(*time.Timer)
	timer.Reset(limit)
	defer func() {
		timer.Stop() // since Go 1.23 a stopped timer delivers nothing more
		waitTimers.Put(timer)
	}()
	// The caller's own context ending gives its own error; the limit, a *LimitError.
	var gaveUp func() error
	select {
	case <-w.ready:
		if w.err != nil {
			return nil, w.err
		}
		t.readied.Add(-1)
		return w, nil
	case <-ctx.Done():
		gaveUp = ctx.Err
	case <-timer.C:
	}
	limitError := func() error {
		if gaveUp != nil {
			return gaveUp()
		}
		e := &LimitError{Waited: time.Since(start)}
		if w.granted {
			// The limit passed as the turn came to the waiter: it waited for the unit
			// that handed it over.
			e.Held, e.Holder, e.HeldFor = true, w.prev, w.prevHeld
		} else if t.held {
			e.Held, e.Holder, e.HeldFor = true, t.holder, time.Since(t.since)
		}
		return e
	}

	t.mu.Lock()
	switch {
	case w.err != nil:
		t.mu.Unlock()
		return nil, w.err
	case w.granted:
		// Granted as the caller gave up: the unit never runs, the next one does.
		t.readied.Add(-1)
		t.stats.GaveUp++
		e := limitError()
		t.mu.Unlock()
		t.release(w)
		return nil, e
	}
	for i, q := range t.queue {
		if q == w {
			t.queue = append(t.queue[:i], t.queue[i+1:]...)
			break
		}
	}
	t.stats.GaveUp++
	e := limitError()
	t.mu.Unlock()
	return nil, e
}

// Release ends the caller's hold and hands the turn to the head of the queue, or frees it.
// A batch left open ends first unless the head may join it (see Batch). Only the holder
// calls it.
func (t *Turn) Release() {
	t.release(nil)
}

// release is Release. unrun, when set, is the waiter that holds the turn but gave up as it
// was granted it: it never ran, so its hold is not in the hold distribution, and the next
// holder is told it waited for the unit that handed unrun the turn, for as long as that
// one held it.
func (t *Turn) release(unrun *waiter) {
	now := time.Now()
	t.mu.Lock()
	if t.batch != nil {
		var next Unit
		if len(t.queue) > 0 {
			next = t.queue[0].unit
		}
		if t.batch.Ends(next, len(t.queue) > 0) {
			t.mu.Unlock()
			t.batch.End()
			now = time.Now()
			t.mu.Lock()
		}
	}
	held := now.Sub(t.since)
	t.stats.HoldTotal += held
	t.stats.HoldMax = max(t.stats.HoldMax, held)
	prev, prevHeld := t.holder, held
	if unrun != nil {
		prev, prevHeld = unrun.prev, unrun.prevHeld
	} else {
		t.holdTimes.Observe(held)
		for _, q := range t.queue {
			if held >= q.longestHeld {
				q.longest, q.longestHeld = t.holder, held
			}
		}
	}
	if len(t.queue) > 0 {
		next := t.queue[0]
		copy(t.queue, t.queue[1:])
		t.queue[len(t.queue)-1] = nil
		t.queue = t.queue[:len(t.queue)-1]
		next.granted = true
		next.prev, next.prevHeld = prev, prevHeld
		t.holder, t.since = next.unit, now
		t.stats.Units++
		waited := now.Sub(next.since)
		next.waited = waited
		t.stats.Waits++
		t.stats.WaitTotal += waited
		t.stats.WaitMax = max(t.stats.WaitMax, waited)
		t.readied.Add(1)
		t.mu.Unlock()
		close(next.ready)
		return
	}
	t.held = false
	drained := t.drained
	t.drained = nil
	t.mu.Unlock()
	if drained != nil {
		drained()
	}
}

// NextBatchable reports whether the head of the queue may join a batch.
func (t *Turn) NextBatchable() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue) > 0 && t.queue[0].unit.Batchable
}

// SetKind records that the holder became a different kind of unit. Only the holder calls
// it.
func (t *Turn) SetKind(kind uint8) {
	t.mu.Lock()
	t.holder.Kind = kind
	t.mu.Unlock()
}

// Holder returns the unit that holds the turn and since how long, with held unset when
// the turn is free.
func (t *Turn) Holder() (u Unit, heldFor time.Duration, held bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.held {
		return Unit{}, 0, false
	}
	return t.holder, time.Since(t.since), true
}

// Refuse refuses every waiter and every later Acquire, with the error given to New.
func (t *Turn) Refuse() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	for _, w := range t.queue {
		w.err = t.closed
		close(w.ready)
	}
	t.queue = nil
}

// Drain reports whether the turn is free. When it is held, then is kept for the holder to
// run once it frees the turn, and Drain returns false. It is meant for after Refuse, when
// the turn, once free, stays free.
func (t *Turn) Drain(then func()) (free bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held {
		t.drained = then
		return false
	}
	return true
}

// Stats returns the turn's counters and how many units wait.
func (t *Turn) Stats() (Stats, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats, len(t.queue)
}

// ReportWaitsOver makes every unit granted the turn after waiting longer than over call f,
// without the turn's lock, with how long it waited, the unit that held the turn longest
// while it waited and how long that unit held it. A unit granted the turn as it gave up
// does not call it. It must be called before the turn is used.
func (t *Turn) ReportWaitsOver(over time.Duration, f func(waited time.Duration, longest Unit, held time.Duration)) {
	t.slowWait, t.slowWaitOver = f, over
}

// Times returns the distributions of how long units waited for the turn (zero for one that
// found it free; a unit that gave up is not in it) and how long they held it. Their
// snapshots may be taken at any time.
func (t *Turn) Times() (wait, hold *hist.Durations) {
	return &t.waitTimes, &t.holdTimes
}

// OnQueued makes f be called, under the turn's lock, with the depth of the queue each
// time a unit joins it; nil stops it. It is meant for tests, which wait for a unit to
// queue.
func (t *Turn) OnQueued(f func(depth int)) {
	t.mu.Lock()
	t.onQueued = f
	t.mu.Unlock()
}
