package main

import (
	"context"
	"sync"
	"time"
)

// worker is one kind of goroutine of a timed workload: n goroutines that each repeat op
// until the deadline. op gets the goroutine's number and the count of its operations so far.
type worker struct {
	kind string
	n    int
	op   func(ctx context.Context, db database, goroutine, seq int) error
}

// runFor runs workers against db until opts.duration has passed. Every goroutine stops
// at the deadline: the operation under way is cancelled through its context. It returns
// the merged recorder and the wall time until the last goroutine finished.
func runFor(db database, opts options, workers []worker) (*recorder, time.Duration) {
	began := time.Now()
	deadline := began.Add(opts.duration)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var all []*recorder
	var wg sync.WaitGroup
	for _, w := range workers {
		recs := newRecorders(w.n, deadline)
		all = append(all, recs...)
		for g, rec := range recs {
			wg.Go(func() { repeat(ctx, rec, db, w, g) })
		}
	}
	wg.Wait()
	return merge(all), time.Since(began)
}

// repeat runs w's operation as goroutine g until the deadline. It watches the clock as
// well as ctx, whose timer may fire late on a busy machine.
func repeat(ctx context.Context, rec *recorder, db database, w worker, g int) {
	for seq := 0; ctx.Err() == nil && time.Now().Before(rec.deadline); seq++ {
		rec.observe(ctx, w.kind, func(ctx context.Context) error { return w.op(ctx, db, g, seq) })
	}
}

// pointReaders are n goroutines of primary-key point reads on kv through the read pool.
func pointReaders(n int) worker {
	return worker{kind: kindRead, n: n, op: func(ctx context.Context, db database, _, _ int) error {
		return pointRead(ctx, db.readDB())
	}}
}

// inserters are n goroutines of single-row autocommit inserts into log through the write
// pool.
func inserters(n int) worker {
	return worker{kind: kindWrite, n: n, op: func(ctx context.Context, db database, g, seq int) error {
		return insertLog(ctx, db.writeDB(), g, seq)
	}}
}

// nplus1Readers are n goroutines of N+1 reads on kv through the read pool: an outer range
// query whose rows are each read again by an inner query while the outer rows are open.
func nplus1Readers(n int) worker {
	return worker{kind: kindRead, n: n, op: func(ctx context.Context, db database, _, _ int) error {
		return nestedReads(ctx, db.readDB())
	}}
}

// runMixed runs -mixed-writers inserting goroutines beside 2×R point-reading goroutines.
func runMixed(_ context.Context, db database, opts options) (runResult, error) {
	return runTimed(db, opts, inserters(opts.mixedWriters), pointReaders(2*opts.readers))
}

// runReadOnly runs 2×R point-reading goroutines alone.
func runReadOnly(_ context.Context, db database, opts options) (runResult, error) {
	return runTimed(db, opts, pointReaders(2*opts.readers))
}

// runWrites runs -writers inserting goroutines alone.
func runWrites(_ context.Context, db database, opts options) (runResult, error) {
	return runTimed(db, opts, inserters(opts.writers))
}

// runNPlusOne runs 2×R goroutines of N+1 reads alone.
func runNPlusOne(_ context.Context, db database, opts options) (runResult, error) {
	return runTimed(db, opts, nplus1Readers(2*opts.readers))
}

// runReadLatency runs latencyWriters inserting goroutines beside one goroutine reading one
// row after another.
func runReadLatency(_ context.Context, db database, opts options) (runResult, error) {
	return runTimed(db, opts, inserters(latencyWriters), pointReaders(1))
}

// runTimed runs workers for the duration and counts as lost the successful inserts that
// log does not hold afterwards.
func runTimed(db database, opts options, workers ...worker) (runResult, error) {
	rec, wall := runFor(db, opts, workers)
	inserted := rec.ok(kindWrite)
	present, err := countLog(context.Background(), db.writeDB())
	return rec.result(wall, opts.duration, inserted-present), checked("the rows of log", err)
}
