// Command sqlite-serial-demo shows, side by side, what plain mattn/go-sqlite3 and
// sqlite-serial do under concurrent load.
//
// It runs three scenarios against each driver, every time on a fresh database file in a
// temporary directory that is removed at the end:
//
//   - stress: many goroutines insert one row each, every third of them also counts the
//     rows, and as many more goroutines only count the rows, all starting together;
//   - break: many goroutines sleep a random moment and then increment one row's value
//     with a single UPDATE;
//   - read-modify-write: a few workers repeatedly begin a transaction, read a counter,
//     add one in Go, write it back and commit, with no retry on error.
//
// Both drivers get the same DSN, the bare file path, so the comparison is like for like:
// plain "sqlite3" uses a default *sql.DB pool and mattn's default busy timeout of 5s;
// "sqlite-serial" serializes every write on one writer connection and reads on a pool of
// WAL readers. For every scenario and driver the program prints the operations run, the
// errors, the lost writes, the throughput and the p99 latency of one operation, then the
// distinct error messages seen.
//
// Run it from the module root:
//
//	go run ./cmd/sqlite-serial-demo
//	go run ./cmd/sqlite-serial-demo -rounds 3 -readers 4
//
// Run it with -h for the flags. Errors from plain sqlite3 are expected and are the point of
// the demo, so they leave the exit status 0. It is 1 when sqlite-serial had an error or lost
// a write, which would be a bug in the driver, or when the demo itself could not run, and 2
// for invalid flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/mattn/go-sqlite3"
	_ "github.com/sqlite-serial/sqlite-serial"
)

func main() {
	opts, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2) // parseOptions has printed the error and the usage
	}
	passed, err := run(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlite-serial-demo:", err)
		os.Exit(1)
	}
	if !passed {
		os.Exit(1)
	}
}

// run runs every round of every scenario against every driver, prints the report and
// reports whether sqlite-serial had neither an error nor a lost write.
func run(opts options) (bool, error) {
	dir, err := os.MkdirTemp("", "sqlite-serial-demo-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)

	scenarios := allScenarios()
	targets := allTargets(opts)
	printIntro(os.Stdout, opts, scenarios, targets)

	began := time.Now()
	tallies := newTallies(scenarios, targets)
	for round := range opts.rounds {
		for _, sc := range scenarios {
			for _, tg := range targets {
				path := filepath.Join(dir, fmt.Sprintf("%d-%s-%s.db", round+1, sc.name, tg.driver))
				s, err := runOnce(sc, tg, path, opts)
				if err != nil {
					return false, fmt.Errorf("round %d, %s, %s: %w", round+1, sc.name, tg.driver, err)
				}
				tallies.get(sc.name, tg.driver).add(s)
			}
		}
	}

	printTable(os.Stdout, tallies.all())
	passed := printVerdict(os.Stdout, tallies.all())
	printErrorMessages(os.Stdout, tallies.all())
	fmt.Printf("Finished in %v.\n", time.Since(began).Round(10*time.Millisecond))
	return passed, nil
}

// runOnce creates a fresh database at path for one driver, sets up the scenario's schema,
// runs the scenario and closes the database.
func runOnce(sc scenario, tg target, path string, opts options) (sample, error) {
	db, err := openDB(tg, path)
	if err != nil {
		return sample{}, err
	}
	defer db.Close()
	for _, stmt := range sc.schema {
		if _, err := db.Exec(stmt); err != nil {
			return sample{}, fmt.Errorf("setting up the schema: %w", err)
		}
	}
	s, err := sc.run(db, opts)
	if err != nil {
		return sample{}, err
	}
	return s, db.Close()
}
