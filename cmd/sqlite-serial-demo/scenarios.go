package main

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// scenario is one concurrency workload: the statements that set up a fresh database and
// the function that runs the workload on it.
type scenario struct {
	name   string
	schema []string
	run    func(db *sql.DB, opts options) (sample, error)
}

// allScenarios returns the three scenarios in the order they run and are shown.
func allScenarios() []scenario {
	return []scenario{
		{
			name:   "stress",
			schema: []string{"CREATE TABLE test(id INTEGER PRIMARY KEY, value INTEGER)"},
			run:    runStress,
		},
		{
			name: "break",
			schema: []string{
				"CREATE TABLE test(id INTEGER PRIMARY KEY, value INTEGER)",
				"INSERT INTO test(id, value) VALUES (1, 0)",
			},
			run: runBreak,
		},
		{
			name: "read-modify-write",
			schema: []string{
				"CREATE TABLE counter(id INTEGER PRIMARY KEY, value INTEGER)",
				"INSERT INTO counter(id, value) VALUES (1, 0)",
			},
			run: runReadModifyWrite,
		},
	}
}

// runStress starts opts.stress goroutines that each insert one row, every third of them
// then also counting the rows, and opts.stress goroutines that each count the rows, all at
// once. Every statement is one operation. Lost writes are the rows missing from the
// expected opts.stress, whether their insert failed or vanished.
func runStress(db *sql.DB, opts options) (sample, error) {
	var rec recorder
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range opts.stress {
		wg.Go(func() {
			<-start
			rec.time(func() error { return insertRow(db, i) })
			if i%3 == 2 {
				rec.time(func() error { _, err := countRows(db); return err })
			}
		})
	}
	for range opts.stress {
		wg.Go(func() {
			<-start
			rec.time(func() error { _, err := countRows(db); return err })
		})
	}
	wall := releaseAndWait(start, &wg)

	final, err := countRows(db)
	if err != nil {
		return sample{}, fmt.Errorf("reading the final row count: %w", err)
	}
	return rec.sample(wall, opts.stress-final), nil
}

// runBreak starts opts.updates goroutines that each sleep a random time up to
// opts.maxSleep and then increment the value of row 1 with one UPDATE, which is the
// operation timed. Lost updates are the increments missing from the expected
// opts.updates, whether their UPDATE failed or vanished.
func runBreak(db *sql.DB, opts options) (sample, error) {
	var rec recorder
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range opts.updates {
		wg.Go(func() {
			<-start
			time.Sleep(randomDelay(opts.maxSleep))
			rec.time(func() error { return incrementInPlace(db) })
		})
	}
	wall := releaseAndWait(start, &wg)

	final, err := readValue(db, "SELECT value FROM test WHERE id = 1")
	if err != nil {
		return sample{}, fmt.Errorf("reading the final value: %w", err)
	}
	return rec.sample(wall, opts.updates-final), nil
}

// runReadModifyWrite starts opts.workers workers that each run opts.iterations
// transactions which read the counter, add one in Go and write it back. A whole
// transaction is one operation; a failed one is counted and not retried. Lost updates are
// the committed transactions whose increment the final value does not show.
func runReadModifyWrite(db *sql.DB, opts options) (sample, error) {
	var rec recorder
	var committed atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range opts.workers {
		wg.Go(func() {
			<-start
			for range opts.iterations {
				rec.time(func() error {
					err := incrementInTransaction(db)
					if err == nil {
						committed.Add(1)
					}
					return err
				})
			}
		})
	}
	wall := releaseAndWait(start, &wg)

	final, err := readValue(db, "SELECT value FROM counter WHERE id = 1")
	if err != nil {
		return sample{}, fmt.Errorf("reading the final counter: %w", err)
	}
	return rec.sample(wall, int(committed.Load())-final), nil
}

// releaseAndWait closes start so that every goroutine begins at once, waits for all of
// them and returns the wall time between the two.
func releaseAndWait(start chan struct{}, wg *sync.WaitGroup) time.Duration {
	began := time.Now()
	close(start)
	wg.Wait()
	return time.Since(began)
}

// randomDelay returns a random duration from 0 to max inclusive.
func randomDelay(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max + 1)
}

// insertRow inserts one row into test with value i.
func insertRow(db *sql.DB, i int) error {
	if _, err := db.Exec("INSERT INTO test(value) VALUES (?)", i); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// countRows returns the number of rows in test.
func countRows(db *sql.DB) (int, error) {
	n, err := readValue(db, "SELECT COUNT(*) FROM test")
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return n, nil
}

// incrementInPlace adds one to the value of row 1 of test in a single statement.
func incrementInPlace(db *sql.DB) error {
	if _, err := db.Exec("UPDATE test SET value = value + 1 WHERE id = 1"); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// readValue runs query, which returns one integer, and returns it.
func readValue(db *sql.DB, query string) (int, error) {
	var n int
	err := db.QueryRow(query).Scan(&n)
	return n, err
}

// incrementInTransaction reads the counter, adds one in Go and writes it back, all in one
// transaction. The first error ends the transaction and is returned, marked with the step
// that failed.
func incrementInTransaction(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var value int
	if err := tx.QueryRow("SELECT value FROM counter WHERE id = 1").Scan(&value); err != nil {
		return rollback(tx, fmt.Errorf("select: %w", err))
	}
	if _, err := tx.Exec("UPDATE counter SET value = ? WHERE id = 1", value+1); err != nil {
		return rollback(tx, fmt.Errorf("update: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rollback rolls tx back after cause and returns cause, joined with the rollback's own
// error if that failed too.
func rollback(tx *sql.Tx, cause error) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return errors.Join(cause, fmt.Errorf("rollback: %w", err))
	}
	return cause
}
