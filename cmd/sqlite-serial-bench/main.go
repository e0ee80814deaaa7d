// Command sqlite-serial-bench measures sqlite-serial against the usual ways of using
// mattn/go-sqlite3 under concurrent load: throughput, latency, errors and lost writes.
//
// Every workload runs against each of these modes, every time on a fresh database file in a
// temporary directory that is removed at the end:
//
//   - plain: "sqlite3" with mattn's default rollback journal (not WAL);
//   - tuned: "sqlite3" with _journal_mode=WAL;
//   - immediate: tuned plus _txlock=immediate;
//   - twopool: the hand-built best practice, a one-connection "sqlite3" writer pool (WAL,
//     _txlock=immediate) and a read-only reader pool of R connections, the workload code
//     choosing the pool for every call;
//   - serial: "sqlite-serial" with _serial_readers=R;
//   - serial-busy0: serial with _busy_timeout=0 (see -busy0).
//
// The settings are like for like: every mode gets the same _sync, _busy_timeout (5000 ms,
// but for serial-busy0) and _stmt_cache_size, and R+1 connections: plain, tuned and
// immediate a single pool of R+1, twopool 1 + R, serial R readers and its writer. With
// -defaults every mode runs at its defaults instead: plain, tuned and immediate with
// database/sql's default pool (no SetMaxOpenConns or SetMaxIdleConns), twopool with its
// writer pool of 1 and a reader pool at database/sql's defaults, serial without
// _serial_readers; -readers then sets only how many reader goroutines the workloads start.
//
// The workloads are:
//
//   - stress: 300 goroutines insert a row each, every third also counting the rows, and 300
//     more only count, all released together;
//   - break: 200 goroutines sleep 0-50 ms and increment one row with a single UPDATE;
//   - rmw: 32 workers × 20 read-modify-write transactions (SELECT, then UPDATE to the value
//     read plus one), not retried;
//   - mixed: for -duration, 4 goroutines (-mixed-writers) insert rows while 2×R goroutines
//     read random rows of a 100,000-row table by primary key;
//   - readonly: the reads of mixed alone;
//   - writes-normal and writes-full: 8 goroutines (-writers) insert rows, with _sync=NORMAL
//     and _sync=FULL;
//   - read-latency: 2 goroutines insert rows while one reads rows one after another;
//   - distinct: 4 goroutines × 5,000 point reads, each with the id and a unique number
//     inlined into its SQL text, so that every read prepares a new statement; it runs to
//     completion and the report shows its wall time;
//   - nplus1: for -duration, 2×R goroutines each query a range of 10 ids and, with those
//     rows open, read each row again through the same pool (N+1 reads).
//
// The workload code is written once against two pools, one for writes and one for reads,
// which are the same *sql.DB in every mode but twopool. Timed workloads stop at their
// deadline through the operations' context; an operation that the deadline cuts short is
// not counted, any other failure is an error. For every workload and mode the report gives
// the operations, errors and lost writes (totals over the rounds), the successful operations
// per second and the p50 and p99 latency of one operation (medians over the rounds), and
// ratios to twopool. It ends with checks of sqlite-serial's targets (no error and no lost
// write anywhere; mixed reads/s at least tuned's; mixed write p99 at most twopool's), the
// error texts seen and sqlite-serial's own counters.
//
// Run it from the module root; -out writes results.md (the report, the machine and the
// command line that reproduces it) and ops.svg (a bar chart of ops/s relative to twopool):
//
//	go run ./cmd/sqlite-serial-bench
//	go run ./cmd/sqlite-serial-bench -rounds 1 -duration 1s -out /tmp/benchout
//	go run ./cmd/sqlite-serial-bench -workloads mixed,readonly -modes tuned,twopool,serial
//
// Progress goes to standard error, the report to standard output. Run it with -h for the
// flags. The exit status is 1 when an sqlite-serial mode had an error or lost a write,
// which would be a bug in the driver, or when the report could not be written, 2 for
// invalid flags, and 0 otherwise: errors of the other modes are what the benchmark shows,
// and missed performance targets are reported, not failed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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
	passed, err := run(opts, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlite-serial-bench:", err)
		os.Exit(1)
	}
	if !passed {
		os.Exit(1)
	}
}

// run runs the benchmark, prints the report to out and progress to log, writes the files
// of -out, and reports whether sqlite-serial had neither an error nor a lost write.
func run(opts options, out, log io.Writer) (bool, error) {
	dir, err := os.MkdirTemp("", "sqlite-serial-bench-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)

	env := describeMachine()
	workloads, modes := selectWorkloads(opts), selectModes(opts.modes)
	head := settingsBlocks(env, opts, workloads, modes)
	renderText(out, head)

	r := &runner{dir: dir, opts: opts, log: log}
	began := time.Now()
	rs := r.runAll(workloads, modes)
	took := time.Since(began).Round(time.Second)

	body, passed := resultBlocks(rs, opts)
	renderText(out, body)
	fmt.Fprintf(out, "\nFinished in %v.\n", took)
	if opts.out != "" {
		if err := writeFiles(opts.out, head, body, buildChart(rs, env, opts), began, took); err != nil {
			return passed, err
		}
		fmt.Fprintf(out, "Wrote %s and %s.\n", filepath.Join(opts.out, "results.md"), filepath.Join(opts.out, "ops.svg"))
	}
	return passed, nil
}

// writeFiles writes results.md, the report in Markdown, and ops.svg, the chart, to dir.
func writeFiles(dir string, head, body []block, c chart, began time.Time, took time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "# sqlite-serial-bench results\n\n")
	fmt.Fprintf(f, "Run on %s; the benchmark took %v.\n\n", began.UTC().Format("2006-01-02 15:04 MST"), took)
	fmt.Fprintf(f, "![%s](ops.svg)\n", c.title)
	renderMarkdown(f, append(head, body...))
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ops.svg"), []byte(c.svg()), 0o644)
}
