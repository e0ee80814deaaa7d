package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Sizes of the workloads. They are fixed so that results stay comparable between machines.
const (
	stressInserters = 300                   // stress: goroutines inserting one row (as many only count)
	breakUpdaters   = 200                   // break: goroutines running one UPDATE each
	breakMaxSleep   = 50 * time.Millisecond // break: longest random sleep before the UPDATE
	rmwWorkers      = 32                    // rmw: concurrent workers
	rmwTransactions = 20                    // rmw: transactions per worker
	kvRows          = 100_000               // mixed, readonly, read-latency, distinct, nplus1: rows of kv
	latencyWriters  = 2                     // read-latency: writer goroutines beside the one reader
	distinctReaders = 4                     // distinct: goroutines
	distinctReads   = 5_000                 // distinct: point reads per goroutine, each a new SQL text
	nplus1Range     = 10                    // nplus1: rows of the outer query, each read again by an inner query
)

// Defaults of the flags that size workloads (-writers, -mixed-writers).
const (
	defaultWriters      = 8 // writes-normal, writes-full: writer goroutines
	defaultMixedWriters = 4 // mixed: writer goroutines (readers are 2×R)
)

// completionLimit bounds a workload that runs to completion, so that a hung mode cannot
// stop the benchmark; operations it cuts short count as errors.
const completionLimit = 2 * time.Minute

// Schemas of the workloads.
var (
	testSchema    = []string{"CREATE TABLE test(id INTEGER PRIMARY KEY, value INTEGER)"}
	counterSchema = []string{"CREATE TABLE test(id INTEGER PRIMARY KEY, value INTEGER)", "INSERT INTO test(id, value) VALUES (1, 0)"}
	logSchema     = []string{"CREATE TABLE log(id INTEGER PRIMARY KEY, v TEXT)"}
	kvSchema      = []string{
		"CREATE TABLE kv(id INTEGER PRIMARY KEY, v TEXT)",
		fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "+
			"INSERT INTO kv(id, v) SELECT i, printf('value %%08d', i) FROM n", kvRows),
		"CREATE TABLE log(id INTEGER PRIMARY KEY, v TEXT)",
	}
)

// ratio is one metric of one kind of operation that the report divides by the reference
// mode's (twopool's).
type ratio struct {
	kind   string
	metric metric
}

// workload is one concurrency workload, written once against the database interface so
// that every mode runs the same code.
type workload struct {
	name   string
	about  string   // one sentence for the report
	timed  bool     // runs for -duration and stops at its deadline
	wall   bool     // the report shows the median wall time (for a workload run to completion)
	sync   string   // synchronous setting in place of -sync; empty keeps -sync
	kinds  []string // the kinds of operation timed, in the order shown
	ratios []ratio  // metrics compared with the reference mode; the first is charted
	schema []string // statements that prepare a fresh database before timing
	run    func(ctx context.Context, db database, opts options) (runResult, error)
}

// allWorkloads returns every workload in the order they run and are shown, their about
// texts giving the sizes that opts sets.
func allWorkloads(opts options) []workload {
	opsRate := []ratio{{kindOp, rateMetric}}
	return []workload{
		{name: "stress", kinds: []string{kindOp}, ratios: opsRate, schema: testSchema, run: runStress,
			about: fmt.Sprintf("%d goroutines insert one row each, every third also counting the rows, and %d more only count; all start together. Every statement is one operation; lost = inserts missing from the final count.", stressInserters, stressInserters)},
		{name: "break", kinds: []string{kindOp}, ratios: opsRate, schema: counterSchema, run: runBreak,
			about: fmt.Sprintf("%d goroutines sleep 0-%v, then increment one row with a single UPDATE; lost = increments missing from the final value.", breakUpdaters, breakMaxSleep)},
		{name: "rmw", kinds: []string{kindOp}, ratios: opsRate, schema: counterSchema, run: runReadModifyWrite,
			about: fmt.Sprintf("%d workers × %d transactions: Begin, SELECT the counter, UPDATE it to the value read + 1, Commit; no retry. A transaction is one operation; lost = committed increments missing from the final value.", rmwWorkers, rmwTransactions)},
		{name: "mixed", timed: true, kinds: []string{kindRead, kindWrite}, schema: kvSchema, run: runMixed,
			ratios: []ratio{{kindRead, rateMetric}, {kindWrite, p99Metric}},
			about:  fmt.Sprintf("For the duration, %d goroutines insert single rows (autocommit) while 2×R goroutines read random rows of a %d-row table by primary key; lost = successful inserts missing from the table.", opts.mixedWriters, kvRows)},
		{name: "readonly", timed: true, kinds: []string{kindRead}, schema: kvSchema, run: runReadOnly,
			ratios: []ratio{{kindRead, rateMetric}},
			about:  "The reads of mixed alone: 2×R goroutines of primary-key point reads for the duration."},
		{name: "writes-normal", timed: true, sync: "NORMAL", kinds: []string{kindWrite}, schema: logSchema, run: runWrites,
			ratios: []ratio{{kindWrite, rateMetric}},
			about:  fmt.Sprintf("%d goroutines insert single rows (autocommit) for the duration, with _sync=NORMAL whatever -sync says.", opts.writers)},
		{name: "writes-full", timed: true, sync: "FULL", kinds: []string{kindWrite}, schema: logSchema, run: runWrites,
			ratios: []ratio{{kindWrite, rateMetric}},
			about:  fmt.Sprintf("%d goroutines insert single rows (autocommit) for the duration, with _sync=FULL whatever -sync says.", opts.writers)},
		{name: "read-latency", timed: true, kinds: []string{kindRead, kindWrite}, schema: kvSchema, run: runReadLatency,
			ratios: []ratio{{kindRead, rateMetric}, {kindRead, p99Metric}},
			about:  fmt.Sprintf("%d goroutines insert continuously while one goroutine reads random rows by primary key one after another, for the duration: the latency of a read beside writes.", latencyWriters)},
		{name: "distinct", wall: true, kinds: []string{kindRead}, ratios: []ratio{{kindRead, rateMetric}}, schema: kvSchema, run: runDistinct,
			about: fmt.Sprintf("%d goroutines × %d point reads of random rows of a %d-row table, the id and a unique number inlined into the SQL text (SELECT v FROM kv WHERE id = <n> /* <unique> */), so that no text repeats and every read prepares a new statement; runs to completion, wall time and reads/s are what count.", distinctReaders, distinctReads, kvRows)},
		{name: "nplus1", timed: true, kinds: []string{kindRead}, schema: kvSchema, run: runNPlusOne,
			ratios: []ratio{{kindRead, rateMetric}, {kindRead, p99Metric}},
			about:  fmt.Sprintf("N+1 reads through the read pool, the usual ORM shape: for the duration, 2×R goroutines each query a random range of %d ids (SELECT id FROM kv WHERE id BETWEEN ? AND ?) and, with those rows still open, read every row again by primary key; a read is one outer query with its %d inner ones. A pool capped below 2×R connections can stall: every connection holds outer rows while their inner reads wait for a connection, until the deadline cuts them short (not counted).", nplus1Range, nplus1Range)},
	}
}

// workloadNames returns the names of every workload, in order.
func workloadNames() []string {
	var names []string
	for _, w := range allWorkloads(options{}) {
		names = append(names, w.name)
	}
	return names
}

// selectWorkloads returns the workloads that opts names, in the order of allWorkloads.
func selectWorkloads(opts options) []workload {
	var out []workload
	for _, w := range allWorkloads(opts) {
		for _, n := range opts.workloads {
			if w.name == n {
				out = append(out, w)
			}
		}
	}
	return out
}

// runStress starts stressInserters goroutines that each insert one row, every third then
// also counting the rows, and as many goroutines that each count the rows, all at once.
func runStress(ctx context.Context, db database, _ options) (runResult, error) {
	recs := newRecorders(2*stressInserters, time.Time{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range stressInserters {
		rec := recs[i]
		wg.Go(func() {
			<-start
			rec.observe(ctx, kindOp, func(ctx context.Context) error { return insertTest(ctx, db.writeDB(), i) })
			if i%3 == 2 {
				rec.observe(ctx, kindOp, func(ctx context.Context) error { _, err := countTest(ctx, db.readDB()); return err })
			}
		})
	}
	for _, rec := range recs[stressInserters:] {
		wg.Go(func() {
			<-start
			rec.observe(ctx, kindOp, func(ctx context.Context) error { _, err := countTest(ctx, db.readDB()); return err })
		})
	}
	wall := releaseAndWait(start, &wg)
	final, err := countTest(context.Background(), db.writeDB())
	return merge(recs).result(wall, wall, stressInserters-final), checked("the final row count", err)
}

// runBreak starts breakUpdaters goroutines that each sleep a random time up to
// breakMaxSleep and then increment row 1 of test with one UPDATE, the operation timed.
func runBreak(ctx context.Context, db database, _ options) (runResult, error) {
	recs := newRecorders(breakUpdaters, time.Time{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, rec := range recs {
		wg.Go(func() {
			<-start
			time.Sleep(rand.N(breakMaxSleep + 1))
			rec.observe(ctx, kindOp, func(ctx context.Context) error { return incrementInPlace(ctx, db.writeDB()) })
		})
	}
	wall := releaseAndWait(start, &wg)
	final, err := readCounter(context.Background(), db.writeDB())
	return merge(recs).result(wall, wall, breakUpdaters-final), checked("the final value", err)
}

// runReadModifyWrite starts rmwWorkers workers that each run rmwTransactions transactions
// on the write pool, reading the counter and writing it back plus one. A failed
// transaction is counted and not retried.
func runReadModifyWrite(ctx context.Context, db database, _ options) (runResult, error) {
	recs := newRecorders(rmwWorkers, time.Time{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, rec := range recs {
		wg.Go(func() {
			<-start
			for range rmwTransactions {
				rec.observe(ctx, kindOp, func(ctx context.Context) error { return incrementInTransaction(ctx, db.writeDB()) })
			}
		})
	}
	wall := releaseAndWait(start, &wg)
	merged := merge(recs)
	final, err := readCounter(context.Background(), db.writeDB())
	return merged.result(wall, wall, merged.ok(kindOp)-final), checked("the final value", err)
}

// runDistinct starts distinctReaders goroutines that each run distinctReads point reads
// through the read pool, every one with an SQL text of its own.
func runDistinct(ctx context.Context, db database, _ options) (runResult, error) {
	recs := newRecorders(distinctReaders, time.Time{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, rec := range recs {
		wg.Go(func() {
			<-start
			for range distinctReads {
				rec.observe(ctx, kindRead, func(ctx context.Context) error { return distinctRead(ctx, db.readDB()) })
			}
		})
	}
	wall := releaseAndWait(start, &wg)
	return merge(recs).result(wall, wall, 0), nil
}

// releaseAndWait closes start so that every goroutine begins at once, waits for all of
// them and returns the wall time between the two.
func releaseAndWait(start chan struct{}, wg *sync.WaitGroup) time.Duration {
	began := time.Now()
	close(start)
	wg.Wait()
	return time.Since(began)
}

// checked wraps err, from reading what, for the report; it returns nil for nil.
func checked(what string, err error) error {
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}
