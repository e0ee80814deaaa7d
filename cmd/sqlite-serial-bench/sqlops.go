package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// insertTest inserts one row into test with value i.
func insertTest(ctx context.Context, db *sql.DB, i int) error {
	if _, err := db.ExecContext(ctx, "INSERT INTO test(value) VALUES (?)", i); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// countTest returns the number of rows in test.
func countTest(ctx context.Context, db *sql.DB) (int, error) {
	n, err := readInt(ctx, db, "SELECT COUNT(*) FROM test")
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return n, nil
}

// countLog returns the number of rows in log.
func countLog(ctx context.Context, db *sql.DB) (int, error) {
	return readInt(ctx, db, "SELECT COUNT(*) FROM log")
}

// readCounter returns the value of row 1 of test.
func readCounter(ctx context.Context, db *sql.DB) (int, error) {
	return readInt(ctx, db, "SELECT value FROM test WHERE id = 1")
}

// incrementInPlace adds one to the value of row 1 of test in a single statement.
func incrementInPlace(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "UPDATE test SET value = value + 1 WHERE id = 1"); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// incrementInTransaction reads the value of row 1 of test, adds one in Go and writes it
// back, all in one transaction. The first error ends the transaction and is returned,
// marked with the step that failed.
func incrementInTransaction(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var value int
	if err := tx.QueryRowContext(ctx, "SELECT value FROM test WHERE id = 1").Scan(&value); err != nil {
		return rollback(tx, fmt.Errorf("select: %w", err))
	}
	if _, err := tx.ExecContext(ctx, "UPDATE test SET value = ? WHERE id = 1", value+1); err != nil {
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

// pointRead reads the row of kv with a random primary key.
func pointRead(ctx context.Context, db *sql.DB) error {
	var v string
	if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE id = ?", rand.IntN(kvRows)+1).Scan(&v); err != nil {
		return fmt.Errorf("point read: %w", err)
	}
	return nil
}

// distinctTexts numbers the SQL texts of distinctRead, so that no two in the process are
// the same.
var distinctTexts atomic.Uint64

// distinctRead reads the row of kv with a random primary key, the key and a number no
// other text has inlined into the SQL text.
func distinctRead(ctx context.Context, db *sql.DB) error {
	query := "SELECT v FROM kv WHERE id = " + strconv.Itoa(rand.IntN(kvRows)+1) +
		" /* " + strconv.FormatUint(distinctTexts.Add(1), 10) + " */"
	var v string
	if err := db.QueryRowContext(ctx, query).Scan(&v); err != nil {
		return fmt.Errorf("distinct read: %w", err)
	}
	return nil
}

// nestedReads queries a random range of nplus1Range ids of kv and, for every row while the
// outer rows are still open, reads that row's v with a query of its own through the same
// pool: the N+1 shape of an ORM loading a relation row by row.
func nestedReads(ctx context.Context, db *sql.DB) error {
	lo := rand.IntN(kvRows-nplus1Range+1) + 1
	rows, err := db.QueryContext(ctx, "SELECT id FROM kv WHERE id BETWEEN ? AND ?", lo, lo+nplus1Range-1)
	if err != nil {
		return fmt.Errorf("outer query: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("outer scan: %w", err)
		}
		var v string
		if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE id = ?", id).Scan(&v); err != nil {
			return fmt.Errorf("inner read of id %d: %w", id, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outer rows: %w", err)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("outer close: %w", err)
	}
	if n != nplus1Range {
		return fmt.Errorf("outer query: %d rows, want %d", n, nplus1Range)
	}
	return nil
}

// insertLog inserts one row into log, written by goroutine g as its seq-th.
func insertLog(ctx context.Context, db *sql.DB, g, seq int) error {
	v := "goroutine " + strconv.Itoa(g) + " row " + strconv.Itoa(seq)
	if _, err := db.ExecContext(ctx, "INSERT INTO log(v) VALUES (?)", v); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// readInt runs query, which returns one integer, and returns it.
func readInt(ctx context.Context, db *sql.DB, query string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, query).Scan(&n)
	return n, err
}
