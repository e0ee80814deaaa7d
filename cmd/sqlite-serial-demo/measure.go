package main

import (
	"math"
	"slices"
	"sync"
	"time"
)

// recorder collects the outcome of every operation of one scenario run. It is safe for
// concurrent use.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	messages  []errorMessage
}

// errorMessage is one distinct error text and how often it was seen.
type errorMessage struct {
	text  string
	count int
}

// time runs op, which is one operation, and records how long it took and its error.
func (r *recorder) time(op func() error) {
	began := time.Now()
	err := op()
	r.record(time.Since(began), err)
}

// record adds one operation that took d and ended with err, which may be nil.
func (r *recorder) record(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, d)
	if err != nil {
		r.errors++
		r.messages = addMessage(r.messages, errorMessage{text: err.Error(), count: 1})
	}
}

// sample returns what the recorder collected, with the run's wall time and lost writes.
func (r *recorder) sample(wall time.Duration, lost int) sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sample{
		latencies: slices.Clone(r.latencies),
		errors:    r.errors,
		messages:  slices.Clone(r.messages),
		lost:      lost,
		wall:      wall,
	}
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
	return append(messages, m)
}

// sample is what one run of one scenario with one driver measured.
type sample struct {
	latencies []time.Duration // one per operation, successful or not
	errors    int             // operations that returned an error
	messages  []errorMessage  // distinct error texts, in the order first seen
	lost      int             // writes the final state does not show
	wall      time.Duration   // from the start signal until every goroutine finished
}

// tally is the total over every round of one scenario with one driver.
type tally struct {
	scenario, driver string
	sample
}

// add adds the measurements of one run to the total.
func (t *tally) add(s sample) {
	t.latencies = append(t.latencies, s.latencies...)
	t.errors += s.errors
	for _, m := range s.messages {
		t.messages = addMessage(t.messages, m)
	}
	t.lost += s.lost
	t.wall += s.wall
}

// ops returns the number of operations run, successful or not.
func (t *tally) ops() int { return len(t.latencies) }

// opsPerSecond returns the operations run per second of wall time.
func (t *tally) opsPerSecond() float64 {
	if t.wall <= 0 {
		return 0
	}
	return float64(t.ops()) / t.wall.Seconds()
}

// p99 returns the 99th percentile of the operation latencies.
func (t *tally) p99() time.Duration { return percentile(t.latencies, 99) }

// percentile returns the nearest-rank p-th percentile of ds: the smallest value that at
// least p percent of ds do not exceed. It returns 0 for no values.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// tallies holds one tally per scenario and driver, in the order they are shown.
type tallies struct {
	order []*tally
}

// newTallies returns an empty tally for every scenario with every target, scenario by
// scenario.
func newTallies(scenarios []scenario, targets []target) *tallies {
	ts := &tallies{}
	for _, sc := range scenarios {
		for _, tg := range targets {
			ts.order = append(ts.order, &tally{scenario: sc.name, driver: tg.driver})
		}
	}
	return ts
}

// get returns the tally of scenario with driver.
func (ts *tallies) get(scenario, driver string) *tally {
	for _, t := range ts.order {
		if t.scenario == scenario && t.driver == driver {
			return t
		}
	}
	panic("no tally for " + scenario + " with " + driver)
}

// all returns every tally in the order they are shown.
func (ts *tallies) all() []*tally { return ts.order }
