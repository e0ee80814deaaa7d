package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// Operation kinds that workloads time separately.
const (
	kindOp    = "op"    // any operation of a workload that has one kind only
	kindRead  = "read"  // a point read, or in nplus1 an outer query with its inner point reads
	kindWrite = "write" // a single-row insert
)

// maxMessagesKept is how many distinct error texts are kept per run and per cell; later
// texts are counted under the last one kept.
const maxMessagesKept = 20

// errorMessage is one distinct error text and how often it was seen.
type errorMessage struct {
	text  string
	count int
}

// addMessage adds m to messages, merging it with an earlier message of the same text so
// that messages stay in the order they were first seen.
func addMessage(messages []errorMessage, m errorMessage) []errorMessage {
	for i := range messages {
		if messages[i].text == m.text {
			messages[i].count += m.count
			return messages
		}
	}
	if len(messages) >= maxMessagesKept {
		messages[len(messages)-1].text = "(other error texts)"
		messages[len(messages)-1].count += m.count
		return messages
	}
	return append(messages, m)
}

// tape is what a recorder collected for one kind of operation.
type tape struct {
	latencies []time.Duration // one per operation, successful or not
	ok        int             // operations that succeeded
	inWindow  int             // successful operations that ended by the deadline
	errors    int             // operations that failed
}

// recorder collects the outcome of the operations of one goroutine, or of several once
// merged. It is not safe for concurrent use: every goroutine has its own.
type recorder struct {
	deadline time.Time // for a timed workload; zero for one that runs to completion
	tapes    map[string]*tape
	messages []errorMessage
}

// newRecorders returns n recorders for operations that end at deadline, which is zero for
// a workload that runs to completion.
func newRecorders(n int, deadline time.Time) []*recorder {
	rs := make([]*recorder, n)
	for i := range rs {
		rs[i] = &recorder{deadline: deadline, tapes: map[string]*tape{}}
	}
	return rs
}

// tape returns the tape of kind, creating it.
func (r *recorder) tape(kind string) *tape {
	t := r.tapes[kind]
	if t == nil {
		t = &tape{}
		r.tapes[kind] = t
	}
	return t
}

// observe runs op, one operation of kind, with ctx, and records how long it took and its
// error. In a timed workload an error caused by the deadline ending ctx is not an
// operation at all and is dropped. observe reports whether op succeeded.
func (r *recorder) observe(ctx context.Context, kind string, op func(context.Context) error) bool {
	began := time.Now()
	err := op(ctx)
	ended := time.Now()
	if err != nil && !r.deadline.IsZero() && stoppedByDeadline(ctx, err) {
		return false
	}
	t := r.tape(kind)
	t.latencies = append(t.latencies, ended.Sub(began))
	if err != nil {
		t.errors++
		r.messages = addMessage(r.messages, errorMessage{text: errorText(err), count: 1})
		return false
	}
	t.ok++
	if r.deadline.IsZero() || !ended.After(r.deadline) {
		t.inWindow++
	}
	return true
}

// stoppedByDeadline reports whether err is what an operation returns when ctx ended under
// it: the context's own error or SQLite's "interrupted". A *sqliteserial.WriteWaitError
// that waited as long as _serial_write_wait allows is a real error, although it also wraps
// context.DeadlineExceeded.
func stoppedByDeadline(ctx context.Context, err error) bool {
	if ctx.Err() == nil {
		return false
	}
	var ww *sqliteserial.WriteWaitError
	if errors.As(err, &ww) && ww.Waited >= ww.Limit {
		return false
	}
	var se sqlite3.Error
	interrupted := errors.As(err, &se) && se.Code == sqlite3.ErrInterrupt
	return interrupted || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// merge returns one recorder holding the operations of all of rs.
func merge(rs []*recorder) *recorder {
	out := &recorder{tapes: map[string]*tape{}}
	for _, r := range rs {
		out.deadline = r.deadline
		for kind, t := range r.tapes {
			m := out.tape(kind)
			m.latencies = append(m.latencies, t.latencies...)
			m.ok += t.ok
			m.inWindow += t.inWindow
			m.errors += t.errors
		}
		for _, msg := range r.messages {
			out.messages = addMessage(out.messages, msg)
		}
	}
	return out
}

// ok returns the successful operations of kind.
func (r *recorder) ok(kind string) int {
	if t := r.tapes[kind]; t != nil {
		return t.ok
	}
	return 0
}

// kindResult is what one run measured for one kind of operation.
type kindResult struct {
	ops, ok, errors int
	rate            float64 // successful operations per second (see recorder.result)
	p50, p99        time.Duration
}

// runResult is what one run of one workload against one mode measured.
type runResult struct {
	kinds    map[string]kindResult
	errors   int
	lost     int
	wall     time.Duration // from the start until every goroutine finished
	messages []errorMessage
	failed   bool                // the run could not be measured: it failed to open or set up
	counters *sqliteserial.Stats // sqlite-serial's counters at the end, for its modes
}

// result summarises the recorder after a run that took wall, of which window was the
// measured time, with lost writes. The rate of a kind is its successful operations that
// ended within the window, per second of it: for a timed workload the window is its
// duration, so that a goroutine stuck past the deadline does not stretch it; for the others
// it is the wall time.
func (r *recorder) result(wall, window time.Duration, lost int) runResult {
	res := runResult{kinds: map[string]kindResult{}, lost: lost, wall: wall, messages: r.messages}
	for kind, t := range r.tapes {
		kr := kindResult{ops: len(t.latencies), ok: t.ok, errors: t.errors}
		if window > 0 {
			kr.rate = float64(t.inWindow) / window.Seconds()
		}
		kr.p50, kr.p99 = percentiles(t.latencies)
		res.kinds[kind] = kr
		res.errors += t.errors
	}
	return res
}

// addError counts err, which came from the harness's own statements (setting up, checking
// the final state, closing), as an error of the run.
func (res *runResult) addError(err error) {
	res.errors++
	res.messages = addMessage(res.messages, errorMessage{text: errorText(err), count: 1})
}

// sqliteCodes name the extended result codes that tell apart why SQLite refused.
var sqliteCodes = map[sqlite3.ErrNoExtended]string{
	5:   "SQLITE_BUSY",
	261: "SQLITE_BUSY_RECOVERY",
	517: "SQLITE_BUSY_SNAPSHOT",
	773: "SQLITE_BUSY_TIMEOUT",
	6:   "SQLITE_LOCKED",
	262: "SQLITE_LOCKED_SHAREDCACHE",
	8:   "SQLITE_READONLY",
}

// errorText returns err's text, followed for an SQLite error by its extended result code,
// which the text alone does not show.
func errorText(err error) string {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	code := fmt.Sprint(int(se.ExtendedCode))
	if name, ok := sqliteCodes[se.ExtendedCode]; ok {
		code = name + ", " + code
	}
	return fmt.Sprintf("%s [extended code %s]", err.Error(), code)
}

// failedRun is the result of a run that could not be measured because of err.
func failedRun(err error) runResult {
	res := runResult{failed: true, kinds: map[string]kindResult{}}
	res.addError(err)
	return res
}

// percentiles returns the nearest-rank 50th and 99th percentiles of ds, or zeros for none.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return rank(ds, 50), rank(ds, 99)
}

// rank returns the nearest-rank p-th percentile of sorted: the smallest value that at least
// p percent of the values do not exceed.
func rank(sorted []time.Duration, p float64) time.Duration {
	r := int(math.Ceil(p / 100 * float64(len(sorted))))
	r = min(max(r, 1), len(sorted))
	return sorted[r-1]
}

// metric is one per-run number of a kind of operation that the report takes the median of.
type metric int

const (
	rateMetric metric = iota // successful operations per second
	p50Metric                // median latency
	p99Metric                // 99th percentile latency
)

// of returns the metric's value in kr; latencies are in seconds.
func (m metric) of(kr kindResult) float64 {
	switch m {
	case p50Metric:
		return kr.p50.Seconds()
	case p99Metric:
		return kr.p99.Seconds()
	}
	return kr.rate
}

// cell is every run of one workload against one mode.
type cell struct {
	runs []runResult
}

// values returns metric m of kind in every measured run, in the order of the rounds.
func (c *cell) values(kind string, m metric) []float64 {
	var xs []float64
	for _, r := range c.runs {
		if kr, ok := r.kinds[kind]; ok && !r.failed {
			xs = append(xs, m.of(kr))
		}
	}
	return xs
}

// median returns the median over the measured runs of metric m of kind, and false when no
// run measured that kind.
func (c *cell) median(kind string, m metric) (float64, bool) {
	return medianOf(c.values(kind, m))
}

// medianWall returns the median wall time of the measured runs, in seconds, and false when
// no run was measured.
func (c *cell) medianWall() (float64, bool) {
	var xs []float64
	for _, r := range c.runs {
		if !r.failed {
			xs = append(xs, r.wall.Seconds())
		}
	}
	return medianOf(xs)
}

// medianOf returns the median of xs, which it sorts, and false when xs is empty.
func medianOf(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2], true
	}
	return (xs[n/2-1] + xs[n/2]) / 2, true
}

// ops returns the operations of kind over every run.
func (c *cell) ops(kind string) int {
	n := 0
	for _, r := range c.runs {
		n += r.kinds[kind].ops
	}
	return n
}

// errors returns the errors over every run.
func (c *cell) errors() int {
	n := 0
	for _, r := range c.runs {
		n += r.errors
	}
	return n
}

// lost returns the lost writes over every run.
func (c *cell) lost() int {
	n := 0
	for _, r := range c.runs {
		n += r.lost
	}
	return n
}

// messages returns the distinct error texts over every run, in the order first seen.
func (c *cell) messages() []errorMessage {
	var out []errorMessage
	for _, r := range c.runs {
		for _, m := range r.messages {
			out = addMessage(out, m)
		}
	}
	return out
}
