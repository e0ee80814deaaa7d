//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These scenarios run concurrent workloads against a real database file through
// sql.Open(DriverName, path), with the driver's defaults. Every one of them allows no error
// at all from any operation: the point of the driver is that concurrent use of one *sql.DB
// never sees "database is locked", lost updates or torn reads. Each asserts exact results.

// scenarioErrors collects the errors of a scenario's goroutines, which must not call
// t.Fatal; the test goroutine reports them all (the first few in full) with requireNone.
type scenarioErrors struct {
	mu   sync.Mutex
	n    int
	kept []string
}

const keptScenarioErrors = 20

// add records err, described by the format and args that precede it, unless it is nil. It
// reports whether err was an error.
func (e *scenarioErrors) add(err error, format string, args ...any) bool {
	if err == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.kept) < keptScenarioErrors {
		e.kept = append(e.kept, fmt.Sprintf(format, args...)+": "+err.Error())
	}
	return true
}

// requireNone fails the test when any error was recorded, with the text of each kept.
func (e *scenarioErrors) requireNone(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n > 0 {
		t.Fatalf("%d operation(s) failed; the first %d:\n  %s", e.n, len(e.kept), strings.Join(e.kept, "\n  "))
	}
}

// TestScenarioStress (a): 300 goroutines insert one row each, every third of them reading the
// row count after its insert, while 300 more goroutines read the row count; all start at
// once. Exactly 300 rows result, and every count read is within bounds: a reader that
// starts after an insert committed sees it.
func TestScenarioStress(t *testing.T) {
	const writers, readers = 300, 300
	db, _ := openDB(t, "")
	_, err := db.Exec("CREATE TABLE test (id INTEGER PRIMARY KEY, value INTEGER)")
	require.NoError(t, err)
	before := stats(t, db)

	var errs scenarioErrors
	var countReads atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			res, err := db.Exec("INSERT INTO test (value) VALUES (?)", i)
			if errs.add(err, "writer %d: INSERT", i) {
				return
			}
			n, err := res.RowsAffected()
			if errs.add(err, "writer %d: RowsAffected", i) {
				return
			}
			if n != 1 {
				errs.add(fmt.Errorf("%d rows affected, want 1", n), "writer %d: INSERT", i)
			}
			if i%3 != 0 {
				return
			}
			var count int
			err = db.QueryRow("SELECT COUNT(*) FROM test").Scan(&count)
			if errs.add(err, "writer %d: SELECT COUNT(*)", i) {
				return
			}
			countReads.Add(1)
			if count < 1 || count > writers {
				// Its own insert committed before this read began, so the read sees it.
				errs.add(fmt.Errorf("count %d, want 1..%d", count, writers), "writer %d: SELECT COUNT(*) after its insert", i)
			}
		})
	}
	for i := range readers {
		wg.Go(func() {
			<-start
			var count int
			err := db.QueryRow("SELECT COUNT(*) FROM test").Scan(&count)
			if errs.add(err, "reader %d: SELECT COUNT(*)", i) {
				return
			}
			countReads.Add(1)
			if count < 0 || count > writers {
				errs.add(fmt.Errorf("count %d, want 0..%d", count, writers), "reader %d: SELECT COUNT(*)", i)
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	errs.requireNone(t)

	after := stats(t, db)
	var rows int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM test").Scan(&rows))
	require.Equal(t, writers, rows, "rows after %d concurrent inserts", writers)
	var distinct int
	require.NoError(t, db.QueryRow("SELECT COUNT(DISTINCT value) FROM test").Scan(&distinct))
	require.Equal(t, writers, distinct, "each goroutine's row once")

	wantReads := int64(readers + (writers+2)/3)
	require.Equal(t, wantReads, countReads.Load())
	require.Equal(t, wantReads, int64(after.ReadRoutes-before.ReadRoutes), "every COUNT(*) ran on a reader")
	require.Equal(t, int64(writers), int64(after.WriteRoutes-before.WriteRoutes), "every INSERT ran on the writer")
	t.Logf("%d inserts and %d count reads in %v; writer: %d units, %d waited (max wait %v); readers: %d opened, at most %d in use",
		writers, wantReads, elapsed.Round(time.Millisecond), after.WriterUnits-before.WriterUnits,
		after.WriterWaits-before.WriterWaits, after.WriterWaitMax.Round(time.Millisecond),
		after.ReadersOpened, after.ReadersMaxInUse)
}

// TestScenarioBreak (b): 200 goroutines each sleep a random 0–50 ms, part of the
// scenario, then increment the same row in an autocommit UPDATE. No increment is lost.
func TestScenarioBreak(t *testing.T) {
	const workers = 200
	db, _ := openDB(t, "")
	_, err := db.Exec("CREATE TABLE test (id INTEGER PRIMARY KEY, value INTEGER)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO test (id, value) VALUES (1, 0)")
	require.NoError(t, err)

	var errs scenarioErrors
	var wg sync.WaitGroup
	began := time.Now()
	for i := range workers {
		wg.Go(func() {
			time.Sleep(rand.N(51 * time.Millisecond)) // part of the scenario: staggered arrivals
			res, err := db.Exec("UPDATE test SET value = value + 1 WHERE id = 1")
			if errs.add(err, "worker %d: UPDATE", i) {
				return
			}
			n, err := res.RowsAffected()
			if errs.add(err, "worker %d: RowsAffected", i) {
				return
			}
			if n != 1 {
				errs.add(fmt.Errorf("%d rows affected, want 1", n), "worker %d: UPDATE", i)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	errs.requireNone(t)

	var value int
	require.NoError(t, db.QueryRow("SELECT value FROM test WHERE id = 1").Scan(&value))
	require.Equal(t, workers, value, "value after %d concurrent increments", workers)
	t.Logf("%d increments in %v", workers, elapsed.Round(time.Millisecond))
}

// scenarioReadModifyWrite runs one read-modify-write transaction on db: it reads the counter,
// adds one in Go and writes it back.
func scenarioReadModifyWrite(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("Begin: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, "SELECT value FROM counter WHERE id = 1").Scan(&v); err != nil {
		return errors.Join(fmt.Errorf("SELECT: %w", err), tx.Rollback())
	}
	res, err := tx.ExecContext(ctx, "UPDATE counter SET value = ? WHERE id = 1", v+1)
	if err != nil {
		return errors.Join(fmt.Errorf("UPDATE: %w", err), tx.Rollback())
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(fmt.Errorf("UPDATE: %d rows affected (want 1), err %v", n, err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	return nil
}

func scenarioCreateCounter(t *testing.T, db *sql.DB) {
	t.Helper()
	_, err := db.Exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO counter (id, value) VALUES (1, 0)")
	require.NoError(t, err)
}

// TestScenarioReadModifyWrite (c): 32 goroutines run 20 transactions each that read a
// counter, add one in Go and write it back. db.Begin() takes the writer with BEGIN
// IMMEDIATE, so no transaction fails and no increment is lost.
func TestScenarioReadModifyWrite(t *testing.T) {
	const workers, perWorker = 32, 20
	db, _ := openDB(t, "")
	scenarioCreateCounter(t, db)

	var errs scenarioErrors
	var wg sync.WaitGroup
	began := time.Now()
	for w := range workers {
		wg.Go(func() {
			for j := range perWorker {
				if errs.add(scenarioReadModifyWrite(context.Background(), db), "worker %d, transaction %d", w, j) {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	errs.requireNone(t)

	var value int
	require.NoError(t, db.QueryRow("SELECT value FROM counter WHERE id = 1").Scan(&value))
	require.Equal(t, workers*perWorker, value, "counter after %d read-modify-write transactions", workers*perWorker)
	t.Logf("%d read-modify-write transactions in %v", workers*perWorker, elapsed.Round(time.Millisecond))
}

// errScenarioInsufficient is scenarioTransfer's refusal of a transfer the balance cannot cover.
var errScenarioInsufficient = errors.New("insufficient balance")

// scenarioTransfer moves amount from one account to another in a write transaction: it reads
// both balances, refuses (rolling back, errScenarioInsufficient) when the first cannot cover
// the amount, else writes both and commits.
func scenarioTransfer(db *sql.DB, from, to, amount int) (err error) {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("Begin: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("Rollback: %w", rerr))
			}
		}
	}()
	var fromBal, toBal int
	if err := tx.QueryRow("SELECT balance FROM accounts WHERE id = ?", from).Scan(&fromBal); err != nil {
		return fmt.Errorf("reading account %d: %w", from, err)
	}
	if err := tx.QueryRow("SELECT balance FROM accounts WHERE id = ?", to).Scan(&toBal); err != nil {
		return fmt.Errorf("reading account %d: %w", to, err)
	}
	if fromBal < amount {
		return errScenarioInsufficient
	}
	if _, err := tx.Exec("UPDATE accounts SET balance = ? WHERE id = ?", fromBal-amount, from); err != nil {
		return fmt.Errorf("debiting account %d: %w", from, err)
	}
	if _, err := tx.Exec("UPDATE accounts SET balance = ? WHERE id = ?", toBal+amount, to); err != nil {
		return fmt.Errorf("crediting account %d: %w", to, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	return nil
}

// TestScenarioTransfers (d): 24 goroutines move random amounts between random accounts in
// write transactions for 2 s, refusing a transfer the balance cannot cover, while 4
// auditors sum the balances both in read-only transactions (on a reader snapshot) and in
// plain queries. The total is always exactly 10000, and each account ends at its opening
// balance plus the transfers that committed.
func TestScenarioTransfers(t *testing.T) {
	const (
		accounts  = 10
		opening   = 1000
		total     = accounts * opening
		movers    = 24
		auditors  = 4
		runFor    = 2 * time.Second
		maxAmount = 300
		halfway   = accounts / 2
		sumAll    = "SELECT SUM(balance) FROM accounts"
		sumLow    = "SELECT SUM(balance) FROM accounts WHERE id <= ?"
		sumHigh   = "SELECT SUM(balance) FROM accounts WHERE id > ?"
	)
	db, _ := openDB(t, "")
	_, err := db.Exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
	require.NoError(t, err)
	var values []string
	for id := 1; id <= accounts; id++ {
		values = append(values, fmt.Sprintf("(%d, %d)", id, opening))
	}
	_, err = db.Exec("INSERT INTO accounts (id, balance) VALUES " + strings.Join(values, ", "))
	require.NoError(t, err)
	before := stats(t, db)

	// ledger[i][id] is the net amount that goroutine i's committed transfers moved into
	// account id; only goroutine i writes it, and only until wg.Wait.
	ledger := make([][accounts + 1]int, movers)
	var (
		errs                    scenarioErrors
		committed, refused      atomic.Int64
		roTxAudits, plainAudits atomic.Int64
		wg                      sync.WaitGroup
	)
	deadline := time.Now().Add(runFor) // checked in the loops: the run stops by itself
	for m := range movers {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				from := 1 + rand.IntN(accounts)
				to := 1 + rand.IntN(accounts-1)
				if to >= from {
					to++
				}
				amount := 1 + rand.IntN(maxAmount)
				switch err := scenarioTransfer(db, from, to, amount); {
				case errors.Is(err, errScenarioInsufficient):
					refused.Add(1)
				case errs.add(err, "mover %d, transfer %d (%d from %d to %d)", m, n, amount, from, to):
					return
				default:
					committed.Add(1)
					ledger[m][from] -= amount
					ledger[m][to] += amount
				}
			}
		})
	}
	// auditInTx sums the balances three ways in one read-only transaction: its snapshot
	// makes two partial sums taken by separate statements add up too.
	auditInTx := func() error {
		tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("BeginTx(ReadOnly): %w", err)
		}
		var low, high, all int
		err = tx.QueryRow(sumLow, halfway).Scan(&low)
		if err == nil {
			err = tx.QueryRow(sumHigh, halfway).Scan(&high)
		}
		if err == nil {
			err = tx.QueryRow(sumAll).Scan(&all)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("summing in a read-only transaction: %w", err), tx.Rollback())
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("Commit of a read-only transaction: %w", err)
		}
		if all != total || low+high != total {
			return fmt.Errorf("read-only transaction saw SUM %d and partial sums %d + %d = %d, want %d",
				all, low, high, low+high, total)
		}
		return nil
	}
	auditPlain := func() error {
		var all int
		if err := db.QueryRow(sumAll).Scan(&all); err != nil {
			return fmt.Errorf("plain SUM: %w", err)
		}
		if all != total {
			return fmt.Errorf("plain query saw SUM %d, want %d", all, total)
		}
		return nil
	}
	for a := range auditors {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				if errs.add(auditInTx(), "auditor %d, audit %d", a, n) {
					return
				}
				roTxAudits.Add(1)
				if errs.add(auditPlain(), "auditor %d, audit %d", a, n) {
					return
				}
				plainAudits.Add(1)
			}
		})
	}
	wg.Wait()
	errs.requireNone(t)
	after := stats(t, db)

	balances := make(map[int]int)
	rows, err := db.Query("SELECT id, balance FROM accounts ORDER BY id")
	require.NoError(t, err)
	sum := 0
	for rows.Next() {
		var id, b int
		require.NoError(t, rows.Scan(&id, &b))
		balances[id] = b
		sum += b
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, total, sum, "sum of balances at the end")
	var sqlSum int
	require.NoError(t, db.QueryRow(sumAll).Scan(&sqlSum))
	require.Equal(t, total, sqlSum, "SUM(balance) at the end")
	require.Len(t, balances, accounts)
	for id := 1; id <= accounts; id++ {
		want := opening
		for m := range movers {
			want += ledger[m][id]
		}
		require.GreaterOrEqual(t, balances[id], 0, "balance of account %d", id)
		require.Equal(t, want, balances[id], "balance of account %d against the committed transfers", id)
	}

	nCommitted, nRefused := committed.Load(), refused.Load()
	nTx, nPlain := roTxAudits.Load(), plainAudits.Load()
	require.Positive(t, nCommitted, "transfers committed")
	require.Positive(t, nTx, "audits in read-only transactions")
	require.Positive(t, nPlain, "plain audits")

	// Where the statements went, between the two snapshots of the counters: the plain
	// audits are read routes; a read-only transaction's statements are pinned routes (they
	// run on the reader its session holds); every reader hand-out is an auditor's, one per
	// read-only transaction and one per plain audit; and the writer served exactly one
	// unit per transfer transaction, so no audit ever touched it.
	require.Equal(t, nPlain, int64(after.ReadRoutes-before.ReadRoutes), "plain audits ran on readers")
	require.Equal(t, nTx+nPlain, int64(after.ReaderAcquisitions-before.ReaderAcquisitions),
		"reader hand-outs: one per read-only transaction and one per plain audit")
	require.GreaterOrEqual(t, int64(after.PinnedRoutes-before.PinnedRoutes), 3*nTx,
		"statements of read-only transactions are pinned to their reader")
	require.Equal(t, nCommitted+nRefused, int64(after.WriterUnits-before.WriterUnits),
		"writer units: one per transfer transaction, none for audits")
	require.Zero(t, int64(after.WriteRoutes-before.WriteRoutes), "no autocommit write during the run")
	require.Zero(t, int64(after.RetriedRoutes), "no statement was retried on the writer")

	t.Logf("%v: %d transfers committed, %d refused; %d read-only-transaction audits, %d plain audits; "+
		"writer max wait %v, max hold %v; readers: %d opened, at most %d in use",
		runFor, nCommitted, nRefused, nTx, nPlain, after.WriterWaitMax.Round(time.Millisecond),
		after.WriterHoldMax.Round(time.Millisecond), after.ReadersOpened, after.ReadersMaxInUse)
}
