//go:build cgo

package sqliteserial_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// exampleDir returns a fresh directory for an example's database, and a function that
// removes it.
func exampleDir() (string, func()) {
	dir, err := os.MkdirTemp("", "sqlite-serial-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}

// Opening a database changes nothing but the driver name: writes from many goroutines are
// serialized, reads run in parallel.
func Example() {
	dir, cleanup := exampleDir()
	defer cleanup()

	db, err := sql.Open("sqlite-serial", filepath.Join(dir, "app.db")+"?_fk=1")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if _, err := db.Exec("CREATE TABLE visits(id INTEGER PRIMARY KEY, page TEXT)"); err != nil {
		log.Fatal(err)
	}
	done := make(chan error)
	for range 10 {
		go func() {
			_, err := db.Exec("INSERT INTO visits(page) VALUES (?)", "/home")
			done <- err
		}()
	}
	for range 10 {
		if err := <-done; err != nil {
			log.Fatal(err)
		}
	}
	var id int64
	if err := db.QueryRow("INSERT INTO visits(page) VALUES ('/about') RETURNING id").Scan(&id); err != nil {
		log.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM visits").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("visits:", n, "last id:", id)
	// Output: visits: 11 last id: 11
}

// A Config with a mattn driver of your own gives its ConnectHook to every connection: the
// writer and every reader.
func ExampleNewConnector() {
	dir, cleanup := exampleDir()
	defer cleanup()

	cn, err := sqliteserial.NewConnector(&sqliteserial.Config{
		DSN:     filepath.Join(dir, "app.db"),
		Readers: 4,
		Driver: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return c.RegisterFunc("shout", func(s string) string { return strings.ToUpper(s) + "!" }, true)
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(cn)
	defer db.Close()

	if _, err := db.Exec("CREATE TABLE words(w TEXT); INSERT INTO words VALUES (shout('hello'))"); err != nil {
		log.Fatal(err)
	}
	var w string
	if err := db.QueryRow("SELECT shout(w) FROM words").Scan(&w); err != nil { // runs on a reader
		log.Fatal(err)
	}
	fmt.Println(w)
	// Output: HELLO!!
}

// A read-only transaction reads one snapshot on a reader and holds up no write.
func Example_readOnlyTransaction() {
	dir, cleanup := exampleDir()
	defer cleanup()

	db, err := sql.Open("sqlite-serial", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE balance(v INTEGER); INSERT INTO balance VALUES (100)"); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()

	// A write commits meanwhile, without waiting for the transaction.
	if _, err := db.ExecContext(ctx, "UPDATE balance SET v = 200"); err != nil {
		log.Fatal(err)
	}
	var inSnapshot, now int
	if err := tx.QueryRowContext(ctx, "SELECT v FROM balance").Scan(&inSnapshot); err != nil {
		log.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT v FROM balance").Scan(&now); err != nil {
		log.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, "UPDATE balance SET v = 0")
	fmt.Println("snapshot:", inSnapshot, "now:", now, "write refused:", err != nil)
	// Output: snapshot: 100 now: 200 write refused: true
}
