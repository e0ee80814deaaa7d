package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// results holds every run, by workload and mode.
type results struct {
	workloads []workload
	modes     []mode
	cells     map[[2]string]*cell
}

// cell returns the runs of workload w against mode m.
func (rs *results) cell(w, m string) *cell {
	c := rs.cells[[2]string{w, m}]
	if c == nil {
		c = &cell{}
		rs.cells[[2]string{w, m}] = c
	}
	return c
}

// hasMode reports whether mode name ran.
func (rs *results) hasMode(name string) bool {
	for _, m := range rs.modes {
		if m.name == name {
			return true
		}
	}
	return false
}

// runner runs every round of every workload against every mode, each on a fresh database
// file in dir, and reports progress to log.
type runner struct {
	dir   string
	opts  options
	log   io.Writer
	began time.Time
	done  int // runs finished
	total int // runs in all
}

// runAll runs the benchmark: for every round, for every workload, every mode in an order
// that rotates from one workload and round to the next, so that no mode always runs first
// or last.
func (r *runner) runAll(workloads []workload, modes []mode) *results {
	rs := &results{workloads: workloads, modes: modes, cells: map[[2]string]*cell{}}
	r.began = time.Now()
	r.total = r.opts.rounds * len(workloads) * len(modes)
	for round := range r.opts.rounds {
		for wi, w := range workloads {
			for _, m := range rotate(modes, round*len(workloads)+wi) {
				res := r.runOne(w, m, round)
				rs.cell(w.name, m.name).runs = append(rs.cell(w.name, m.name).runs, res)
				r.done++
				r.progress(round, w, m, res)
			}
		}
	}
	return rs
}

// rotate returns modes rotated left by k.
func rotate(modes []mode, k int) []mode {
	k %= len(modes)
	return append(append([]mode{}, modes[k:]...), modes[:k]...)
}

// runOne runs workload w against mode m on a fresh database file and removes the file
// afterwards. Whatever fails is counted as an error of the run; nothing aborts the
// benchmark.
func (r *runner) runOne(w workload, m mode, round int) runResult {
	path := filepath.Join(r.dir, fmt.Sprintf("r%d-%s-%s.db", round+1, w.name, m.name))
	defer removeDatabase(path)
	ctx, cancel := context.WithTimeout(context.Background(), completionLimit)
	defer cancel()
	st, err := m.open(ctx, path, m.settingsFor(w, r.opts))
	if err != nil {
		return failedRun(err)
	}
	defer st.close()
	if err := prepare(ctx, st, w.schema); err != nil {
		return failedRun(errors.Join(err, st.close()))
	}
	res, err := w.run(ctx, st, r.opts)
	if err != nil {
		res.lost = 0 // unknown: the final state could not be read
		res.addError(err)
	}
	if m.serial {
		res.counters = serialCounters(st)
	}
	if err := st.close(); err != nil {
		res.addError(fmt.Errorf("close: %w", err))
	}
	return res
}

// prepare runs the schema statements of a workload on the write pool, before timing.
func prepare(ctx context.Context, db database, schema []string) error {
	for _, stmt := range schema {
		if _, err := db.writeDB().ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("setting up the schema: %w", err)
		}
	}
	return nil
}

// serialCounters returns sqlite-serial's counters for st, or nil if they cannot be read.
func serialCounters(st *store) *sqliteserial.Stats {
	s, err := sqliteserial.StatsOf(st.writeDB())
	if err != nil {
		return nil
	}
	return &s
}

// removeDatabase removes the database file at path and the files SQLite keeps beside it.
func removeDatabase(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}

// progress prints one line about a finished run.
func (r *runner) progress(round int, w workload, m mode, res runResult) {
	status := fmt.Sprintf("%d errors, %d lost", res.errors, res.lost)
	if res.failed {
		status = "FAILED: " + truncate(res.messages[0].text, 120)
	}
	var rates string
	for _, kind := range w.kinds {
		rates += fmt.Sprintf(" %s/s=%.0f", kindLabel(kind), res.kinds[kind].rate)
	}
	fmt.Fprintf(r.log, "[%3d/%d %6s] round %d %-13s %-12s %s,%s, took %v\n",
		r.done, r.total, time.Since(r.began).Round(time.Second), round+1, w.name, m.name,
		status, rates, res.wall.Round(time.Millisecond))
}
