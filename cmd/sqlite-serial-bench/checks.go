package main

import (
	"fmt"
	"strings"
	"time"
)

// mixedWorkload is the workload the performance targets are measured on.
const mixedWorkload = "mixed"

// evaluateChecks evaluates the targets for sqlite-serial and returns one line per target,
// each starting with PASS, MISS or SKIP, and whether every sqlite-serial mode had neither an
// error nor a lost write.
func evaluateChecks(rs *results) ([]string, bool) {
	var lines []string
	clean := true
	for _, m := range rs.modes {
		if m.serial {
			line, ok := cleanCheck(rs, m.name)
			lines = append(lines, line)
			clean = clean && ok
		}
	}
	lines = append(lines,
		compareCheck(rs, "mixed reads/s of serial ≥ tuned's", tunedMode, ratio{kindRead, rateMetric}, true),
		compareCheck(rs, "mixed write p99 of serial ≤ twopool's", twopoolMode, ratio{kindWrite, p99Metric}, false),
	)
	return lines, clean
}

// cleanCheck checks that mode had no error and no lost write in any workload.
func cleanCheck(rs *results, mode string) (string, bool) {
	var misses []string
	runs := 0
	for _, w := range rs.workloads {
		c := rs.cell(w.name, mode)
		runs += len(c.runs)
		if c.errors() != 0 || c.lost() != 0 {
			misses = append(misses, fmt.Sprintf("%s: %d errors, %d lost writes", w.name, c.errors(), c.lost()))
		}
	}
	target := fmt.Sprintf("%s: zero errors and zero lost writes in every workload", mode)
	if len(misses) > 0 {
		return fmt.Sprintf("MISS  %s (%s)", target, strings.Join(misses, "; ")), false
	}
	return fmt.Sprintf("PASS  %s (0 errors, 0 lost writes in %d runs of %d workloads)", target, runs, len(rs.workloads)), true
}

// compareCheck checks r's median in the mixed workload for serial against mode other:
// at least as high when higher is true, else at most as high.
func compareCheck(rs *results, target, other string, r ratio, higher bool) string {
	if !rs.hasMode(serialMode) || !rs.hasMode(other) || !rs.hasWorkload(mixedWorkload) {
		return fmt.Sprintf("SKIP  %s (needs workload mixed and modes serial and %s)", target, other)
	}
	mine, ok1 := rs.cell(mixedWorkload, serialMode).median(r.kind, r.metric)
	theirs, ok2 := rs.cell(mixedWorkload, other).median(r.kind, r.metric)
	if !ok1 || !ok2 {
		return fmt.Sprintf("SKIP  %s (no measurement)", target)
	}
	status := "PASS"
	if (higher && mine < theirs) || (!higher && mine > theirs) {
		status = "MISS"
	}
	detail := fmt.Sprintf("median serial %s vs %s %s", formatMetric(mine, true, r.metric), other, formatMetric(theirs, true, r.metric))
	if theirs != 0 {
		detail += fmt.Sprintf(", %.2fx", mine/theirs)
	}
	detail += fmt.Sprintf("; by round: serial %s, %s %s",
		roundValues(rs.cell(mixedWorkload, serialMode), r), other, roundValues(rs.cell(mixedWorkload, other), r))
	return fmt.Sprintf("%s  %s (%s)", status, target, detail)
}

// roundValues lists r's metric in every round of c, in order.
func roundValues(c *cell, r ratio) string {
	var ss []string
	for _, v := range c.values(r.kind, r.metric) {
		ss = append(ss, formatMetric(v, true, r.metric))
	}
	return strings.Join(ss, " ")
}

// hasWorkload reports whether workload name ran.
func (rs *results) hasWorkload(name string) bool {
	for _, w := range rs.workloads {
		if w.name == name {
			return true
		}
	}
	return false
}

// counterBlocks show sqlite-serial's own counters (sqliteserial.StatsOf) for every
// workload and sqlite-serial mode, summed over the rounds, maxima taken over them.
func counterBlocks(rs *results) []block {
	t := &table{header: []string{"workload", "mode", "writer units", "queued", "wait max", "hold max",
		"gave up", "readers max in use", "read routes", "write routes", "pinned", "retried", "checkpoints"}}
	t.numeric = make([]bool, len(t.header))
	for i := 2; i < len(t.numeric); i++ {
		t.numeric[i] = true
	}
	for _, w := range rs.workloads {
		for _, m := range rs.modes {
			if m.serial {
				t.addRow(counterRow(w.name, m.name, rs.cell(w.name, m.name))...)
			}
		}
	}
	if len(t.rows) == 0 {
		return nil
	}
	return []block{
		{heading: "sqlite-serial counters"},
		{para: "From sqliteserial.StatsOf at the end of each run, summed over the rounds; the maxima are the largest of any round. " +
			"Routes count statements, including the harness's schema and final checks; gave up counts units whose wait the timed workloads' deadline ended, which are not errors."},
		{table: t},
	}
}

// counterRow is the row of the counters of one workload and mode.
func counterRow(w, mode string, c *cell) []string {
	var units, waits, gaveUp, reads, writes, pinned, retried, checkpoints uint64
	var waitMax, holdMax time.Duration
	readersMax := 0
	for _, r := range c.runs {
		s := r.counters
		if s == nil {
			continue
		}
		units, waits, gaveUp = units+s.WriterUnits, waits+s.WriterWaits, gaveUp+s.WriterGaveUp
		reads, writes, pinned, retried = reads+s.ReadRoutes, writes+s.WriteRoutes, pinned+s.PinnedRoutes, retried+s.RetriedRoutes
		checkpoints += s.Checkpoints
		waitMax, holdMax = max(waitMax, s.WriterWaitMax), max(holdMax, s.WriterHoldMax)
		readersMax = max(readersMax, s.ReadersMaxInUse)
	}
	return []string{w, mode, fmt.Sprint(units), fmt.Sprint(waits), roundLatency(waitMax).String(),
		roundLatency(holdMax).String(), fmt.Sprint(gaveUp), fmt.Sprint(readersMax), fmt.Sprint(reads),
		fmt.Sprint(writes), fmt.Sprint(pinned), fmt.Sprint(retried), fmt.Sprint(checkpoints)}
}
