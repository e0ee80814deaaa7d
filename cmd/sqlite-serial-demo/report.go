package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// serialDriver is the name of the driver whose errors and lost writes fail the demo.
const serialDriver = "sqlite-serial"

// maxMessageLen is the length error messages are cut to.
const maxMessageLen = 100

// maxMessagesShown is how many distinct error messages are shown per scenario and driver.
const maxMessagesShown = 3

// printIntro prints the line that says what the demo does.
func printIntro(w io.Writer, opts options, scenarios []scenario, targets []target) {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	drivers := make([]string, len(targets))
	for i, tg := range targets {
		drivers[i] = tg.driver
	}
	fmt.Fprintf(w, "Running %s against %s, %d round(s), each on a fresh database file with the same DSN ...\n\n",
		strings.Join(names, ", "), strings.Join(drivers, " and "), opts.rounds)
}

// printTable prints one row per scenario and driver.
func printTable(w io.Writer, ts []*tally) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tdriver\tops\terrors\tlost writes\tops/s\tp99 latency")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%v\n",
			t.scenario, t.driver, t.ops(), t.errors, t.lost, t.opsPerSecond(), roundLatency(t.p99()))
	}
	tw.Flush()
	fmt.Fprintln(w, "(lost writes: stress and break count every expected write missing from the final state, failed or not;")
	fmt.Fprintln(w, " read-modify-write counts committed transactions missing from the final counter.)")
	fmt.Fprintln(w)
}

// printVerdict prints one line per driver summing up its errors and lost writes, and
// reports whether sqlite-serial had neither.
func printVerdict(w io.Writer, ts []*tally) bool {
	var serialFailures []string
	plainErrors, plainLost := 0, 0
	for _, t := range ts {
		if t.driver != serialDriver {
			plainErrors += t.errors
			plainLost += t.lost
			continue
		}
		if t.errors != 0 || t.lost != 0 {
			serialFailures = append(serialFailures,
				fmt.Sprintf("%s: %d errors, %d lost writes", t.scenario, t.errors, t.lost))
		}
	}
	fmt.Fprintf(w, "sqlite3: %d errors, %d lost writes over all scenarios.\n", plainErrors, plainLost)
	if len(serialFailures) == 0 {
		fmt.Fprintln(w, "sqlite-serial: 0 errors, 0 lost writes in every scenario.")
		return true
	}
	fmt.Fprintf(w, "sqlite-serial FAILED (this is a bug in the driver): %s.\n", strings.Join(serialFailures, "; "))
	return false
}

// printErrorMessages prints the first distinct error messages of every scenario and
// driver that had errors, with how often each was seen.
func printErrorMessages(w io.Writer, ts []*tally) {
	header := false
	for _, t := range ts {
		if len(t.messages) == 0 {
			continue
		}
		if !header {
			fmt.Fprintln(w, "\nFirst distinct error messages:")
			header = true
		}
		fmt.Fprintf(w, "  %s / %s:\n", t.scenario, t.driver)
		for _, m := range t.messages[:min(len(t.messages), maxMessagesShown)] {
			fmt.Fprintf(w, "    %5d× %s\n", m.count, truncate(m.text, maxMessageLen))
		}
		if more := len(t.messages) - maxMessagesShown; more > 0 {
			fmt.Fprintf(w, "    ... and %d more distinct messages\n", more)
		}
	}
}

// truncate puts s on one line and cuts it to at most n runes, marking a cut with "...".
func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

// roundLatency rounds d to three significant digits or so, for display.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
