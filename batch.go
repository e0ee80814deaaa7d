//go:build cgo

package sqliteserial

import (
	"context"
	"sync"
	"time"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
	"github.com/sqlite-serial/sqlite-serial/internal/turn"
)

// Group commit. A unit of work that holds the writer's turn for a batchable statement (one
// INSERT, REPLACE, UPDATE or DELETE, with or without RETURNING, through Exec or Query, of a
// session with nothing of its own, outside any transaction) and finds batchable units
// waiting behind it opens a batch: BEGIN IMMEDIATE on the writer. Every statement of the
// batch runs in a savepoint of its own, in its own caller's goroutine, with its own context
// and time limit. A unit that hands the turn on leaves the batch open when the next unit in
// the queue is batchable too and the batch is under batchMax statements and batchTime old;
// otherwise it commits the batch first. So a batch forms only from what already waits: an
// idle writer runs a statement in autocommit as before, and one fsync at COMMIT serves every
// statement of the batch.
//
// Each caller is answered as if its statement had run alone:
//   - a statement that fails of its own accord (a constraint) is released from its savepoint
//     with what autocommit would keep (nothing, but for OR FAIL), and its caller gets its own
//     error once the batch committed (at once for the batch's first statement, if it kept
//     nothing: its failure comes from no uncommitted write);
//   - every other caller waits for the batch's COMMIT; if it fails, nothing of the batch is
//     applied and every statement runs again alone, to meet its own outcome;
//   - when SQLite rolls the whole transaction back on its own (an interrupt or time limit,
//     RAISE(ROLLBACK), OR ROLLBACK, a full disk), the statement at fault gets its error and
//     the statements that ran before it run again, alone or in a new batch (one whose context
//     ended meanwhile does not run again and reports its context's error: nothing of it was
//     applied);
//   - a statement that leaves a deferred foreign key violation, which its own COMMIT would
//     refuse, is rolled back to its savepoint and runs again alone, where SQLite gives it its
//     own error;
//   - a caller whose context ends after its statement ran still waits for the COMMIT and
//     reports the true outcome: its write is applied exactly when its call reports success.
//
// The unit that ends a batch keeps the writer's turn until every caller that slept waiting
// for the batch has run again (batchOutcome.finish). On a busy writer those callers are
// about to write again: their next statements then queue behind it and form the next batch,
// where the ender's own next statement would otherwise find the writer free and run alone
// before they are back. Until each caller of the batch has its answer, reads make way for
// them (writer.readyToRun).

// batchSavepoint is the savepoint each statement of a batch runs in.
const batchSavepoint = "sqlite_serial_batch"

// batchTime bounds how long a batch stays open: past it, the next unit that hands the turn
// on commits it.
const batchTime = 10 * time.Millisecond

// defaultBatchMax is the most statements one batch takes (_serial_batch_max).
const defaultBatchMax = 64

// writeBatch is the batch open on the writer connection. Owner: the writer's holder.
type writeBatch struct {
	open    bool
	n       int // statements that joined it
	began   time.Time
	outcome *batchOutcome
	// total is the writer's total_changes() when the current statement's savepoint began.
	total int64
}

// batchOutcome is what the callers of a batch's statements wait for. Its fields err and
// rerun are written before done is closed.
type batchOutcome struct {
	done chan struct{}
	// err is the COMMIT's error: no statement of the batch was applied.
	err error
	// rerun is set when SQLite rolled the batch back on its own: the statements that ran in
	// it were not applied, and run again.
	rerun bool

	// mu guards the fields below. members counts the callers told to wait for the batch
	// before it ended; asleep those that blocked waiting for done before it was closed,
	// and awake those among them that have run since; ended is set as done is closed, and
	// ender, when set, is closed once awake reaches asleep.
	mu            sync.Mutex
	members       int32
	asleep, awake int
	ended         bool
	ender         chan struct{}
}

// member counts the session's caller among those the batch whose outcome is ob tells of
// its end, and reports whether it did: a batch that ended under the statement does not. A
// caller counted is among the writer's woken callers from the batch's end until it has its
// answer.
func (ob *batchOutcome) member() bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.ended {
		return false
	}
	ob.members++
	return true
}

// await blocks until the batch whose outcome is ob has ended; w is its writer, and counted
// what member reported for the caller.
func (ob *batchOutcome) await(w *writer, counted bool) {
	ob.mu.Lock()
	if ob.ended {
		ob.mu.Unlock()
	} else {
		ob.asleep++
		ob.mu.Unlock()
		if w.testHookBatchAsleep != nil {
			w.testHookBatchAsleep()
		}
		<-ob.done
		if w.testHookBatchWoke != nil {
			w.testHookBatchWoke()
		}
		ob.mu.Lock()
		ob.awake++
		if ob.ender != nil && ob.awake == ob.asleep {
			close(ob.ender)
			ob.ender = nil
		}
		ob.mu.Unlock()
	}
	if counted {
		w.woken.Add(-1)
	}
}

// finish tells the callers of the batch whose outcome is ob that it ended, and waits until
// every one of them that slept waiting for it has run again; w is its writer, whose turn
// the caller holds. Only the holder calls it, once.
func (ob *batchOutcome) finish(w *writer) {
	ob.mu.Lock()
	w.woken.Add(ob.members)
	ob.ended = true
	close(ob.done)
	if ob.awake == ob.asleep {
		ob.mu.Unlock()
		return
	}
	ender := make(chan struct{})
	ob.ender = ender
	ob.mu.Unlock()
	<-ender
}

// Ends reports whether the batch open on the writer, if any, must be committed before the
// turn passes to next, the head of the queue (when waiting is set): unless next may join it
// and the batch is under batchMax statements and batchTime old. The turn asks it under its
// lock, from the holder that releases it (see turn.Batch).
func (w *writer) Ends(next turn.Unit, waiting bool) bool {
	return w.batch.open && !(waiting && next.Batchable && w.batch.n < w.batchMax && time.Since(w.batch.began) < batchTime)
}

// End commits the batch open on the writer, for the holder that releases the turn (see
// turn.Batch).
func (w *writer) End() {
	w.commitBatch()
}

// joinBatch makes the holder's batchable statement part of the batch open on the writer,
// opening one when batchable units wait behind it, and starts the statement's savepoint. It
// returns the batch's outcome, or nil when the statement runs in autocommit on its own. Only
// the holder calls it.
func (w *writer) joinBatch() *batchOutcome {
	p := w.conn
	if p == nil {
		return nil
	}
	if !w.batch.open {
		if !w.turn.NextBatchable() || !p.AutoCommit() {
			return nil
		}
		if _, err := p.run(context.Background(), "BEGIN IMMEDIATE"); err != nil {
			return nil
		}
		w.batch = writeBatch{open: true, began: time.Now(), outcome: &batchOutcome{done: make(chan struct{})}}
	}
	if _, err := p.run(context.Background(), "SAVEPOINT "+batchSavepoint); err != nil {
		w.abandonBatch()
		return nil
	}
	w.batch.total = readValues(p.h).total
	w.batch.n++
	return w.batch.outcome
}

// leaveBatch ends the holder's statement in the batch whose outcome is ob; err is the
// statement's error. It returns the outcome the statement's caller must wait for before it
// answers (nil when it may answer at once), and whether the statement must run again on its
// own. Only the holder calls it.
//
// A statement that failed waits too, unless it kept nothing and is the batch's first: its
// failure may come from the writes of the batch before it (a UNIQUE conflict with a row not
// yet committed), which are not applied if the batch does not commit; it then runs again.
func (w *writer) leaveBatch(ob *batchOutcome, err error) (wait *batchOutcome, alone bool) {
	p := w.conn
	if !w.batch.open || w.batch.outcome != ob {
		// The batch ended under the statement: nothing of it is applied.
		return ob, false
	}
	first := w.batch.n == 1
	if p == nil || closedUnderneath(p) || p.AutoCommit() {
		// SQLite rolled the whole batch back on its own, or the connection broke: the
		// statements before this one run again, and so does this one unless it is the one
		// at fault.
		w.abandonBatch()
		if err == nil {
			return ob, false
		}
		return nil, false
	}
	kept := readValues(p.h).total != w.batch.total
	if (err == nil || kept) && deferredViolations(p.h) {
		// Its own COMMIT would refuse it, with an error only that COMMIT gives: it runs
		// again alone.
		_, rerr := p.run(context.Background(), "ROLLBACK TO "+batchSavepoint)
		if rerr == nil {
			_, rerr = p.run(context.Background(), "RELEASE "+batchSavepoint)
		}
		if rerr != nil {
			w.abandonBatch()
		}
		return nil, true
	}
	if _, rerr := p.run(context.Background(), "RELEASE "+batchSavepoint); rerr != nil {
		w.abandonBatch()
		if err == nil || kept || !first {
			return ob, false
		}
		return nil, false
	}
	if err != nil && !kept && first {
		return nil, false
	}
	return ob, false
}

// commitBatch commits the batch open on the writer and tells its callers. When the COMMIT
// fails, nothing of the batch is applied, and each of its statements runs again alone, to
// meet the outcome it would have met alone (a commit hook's veto of one write, say). Only
// the holder calls it.
func (w *writer) commitBatch() {
	p := w.conn
	ob := w.batch.outcome
	n, began := w.batch.n, w.batch.began
	w.batch = writeBatch{}
	var err error
	if p == nil {
		err = errWriterBroke
	} else if _, err = p.run(context.Background(), "COMMIT"); err != nil && !p.AutoCommit() {
		_, _ = p.run(context.Background(), "ROLLBACK")
	}
	ob.err = err
	w.statsMu.Lock()
	if err != nil {
		w.stats.batchesRolledBack++
	} else {
		w.stats.batches++
		w.stats.batched += uint64(n)
		w.stats.batchMax = max(w.stats.batchMax, n)
	}
	w.statsMu.Unlock()
	if err == nil {
		w.batchSizes.Observe(n)
	}
	ob.finish(w)
	// The units of the batch skipped the WAL's check (see release): the batch counts as one
	// unit that held the writer while it was open.
	w.afterUnit(time.Since(began))
}

// abandonBatch ends the batch open on the writer without committing it: SQLite rolled it
// back, or it is rolled back here. Its statements run again. Only the holder calls it.
func (w *writer) abandonBatch() {
	if p := w.conn; p != nil && !closedUnderneath(p) && !p.AutoCommit() {
		_, _ = p.run(context.Background(), "ROLLBACK")
	}
	ob := w.batch.outcome
	w.batch = writeBatch{}
	ob.rerun = true
	w.statsMu.Lock()
	w.stats.batchesRolledBack++
	w.statsMu.Unlock()
	ob.finish(w)
}

// batchable reports whether the statement judged cls, run by the session now, may join a
// batch.
func (c *conn) batchable(cls *route.Classification) bool {
	cn := c.cn
	return cls.Settles && cls.Known && len(cls.Settings) == 0 && !c.runAlone && c.session == nil && c.tx == nil &&
		!c.sqlTx && !c.holding && cn.gate == nil && !cn.topo.memory && !cn.exclusive.Load() && cn.writer.batchMax > 1
}

// awaitBatch waits, after the session's statement gave the writer's turn back, for the
// outcome of the batch it ran in, if it did, and reports whether the statement must run
// again: SQLite rolled the batch back, its COMMIT failed (the statement then runs alone, to
// meet its own outcome), or the statement must run alone. A statement that failed waits
// only when leaveBatch said so: then its failure may come from writes of the batch that
// were not applied.
func (c *conn) awaitBatch() (again bool) {
	if c.batchAlone {
		c.batchAlone = false
		c.runAlone = true
		return true
	}
	ob := c.batchWait
	if ob == nil {
		return false
	}
	c.batchWait = nil
	ob.await(c.cn.writer, c.batchWoken)
	if ob.err != nil {
		c.runAlone = true
	}
	return ob.rerun || ob.err != nil
}
