package main

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are the command-line settings of one run of the benchmark.
type options struct {
	rounds       int           // times every workload runs against every mode
	duration     time.Duration // how long each timed workload runs
	readers      int           // R: reader connections, the same for every mode, and the readers' goroutines
	defaults     bool          // every mode's pools at their defaults instead of R connections
	writers      int           // writer goroutines of writes-normal and writes-full
	mixedWriters int           // writer goroutines of mixed
	sync         string        // synchronous setting (_sync) for every workload but writes-normal and writes-full
	stmtCache    int           // mattn's _stmt_cache_size, the same for every mode; -1 leaves it out
	busy0        bool          // whether sqlite-serial runs again with _busy_timeout=0 as serial-busy0
	out          string        // directory for results.md and ops.svg; empty writes no files
	workloads    []string      // the workloads to run, in the order they run
	modes        []string      // the modes to run, in the order they are shown
}

// syncValues are the values of -sync that mattn/go-sqlite3 accepts, upper-cased.
var syncValues = []string{"OFF", "NORMAL", "FULL", "EXTRA", "0", "1", "2", "3"}

// defaultReaders is the default of -readers: GOMAXPROCS, at least 2, as sqlite-serial's
// own default for _serial_readers.
func defaultReaders() int {
	return max(2, runtime.GOMAXPROCS(0))
}

// parseOptions reads the flags in args. On an error it has already printed the error and
// the usage; for -h it returns flag.ErrHelp after printing the usage.
func parseOptions(args []string) (options, error) {
	o := options{}
	var workloads, modes string
	fs := flag.NewFlagSet("sqlite-serial-bench", flag.ContinueOnError)
	fs.IntVar(&o.rounds, "rounds", 3, "times every workload runs against every mode, modes interleaved; the report shows medians")
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "how long each run of a timed workload (mixed, readonly, writes-*, read-latency, nplus1) lasts")
	fs.IntVar(&o.readers, "readers", defaultReaders(), "R: reader connections for every mode (R+1 connections in all), and the reader goroutines of the workloads (2×R in mixed, readonly and nplus1)")
	fs.BoolVar(&o.defaults, "defaults", false, "every mode at its defaults: database/sql's default pools (twopool's writer pool keeps 1 connection) and no _serial_readers; -readers then sets only the workloads' reader goroutines")
	fs.IntVar(&o.writers, "writers", defaultWriters, "writer goroutines of writes-normal and writes-full")
	fs.IntVar(&o.mixedWriters, "mixed-writers", defaultMixedWriters, "writer goroutines of mixed, beside its 2×R readers")
	fs.StringVar(&o.sync, "sync", "NORMAL", "synchronous setting (_sync) for every mode: OFF, NORMAL, FULL or EXTRA")
	fs.IntVar(&o.stmtCache, "stmt-cache", -1, "mattn's prepared-statement cache per connection (_stmt_cache_size) for every mode; 0 is off; -1 leaves the key out, for each driver's default (mattn: off; sqlite-serial: 16)")
	fs.BoolVar(&o.busy0, "busy0", true, "also run sqlite-serial with _busy_timeout=0, as mode serial-busy0")
	fs.StringVar(&o.out, "out", "", "if set, a directory to write results.md and ops.svg to")
	fs.StringVar(&workloads, "workloads", "", "comma-separated workloads to run (default all): "+strings.Join(workloadNames(), ","))
	fs.StringVar(&modes, "modes", "", "comma-separated modes to run (default all): "+strings.Join(modeNames(), ","))
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	err := o.finish(fs, workloads, modes)
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
		return options{}, err
	}
	return o, nil
}

// finish normalises the flags read into o, resolves the lists of workloads and modes, and
// reports the first setting that cannot be run.
func (o *options) finish(fs *flag.FlagSet, workloads, modes string) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	o.sync = strings.ToUpper(o.sync)
	var err error
	if o.workloads, err = pick("-workloads", workloads, workloadNames()); err != nil {
		return err
	}
	if o.modes, err = pick("-modes", modes, modeNames()); err != nil {
		return err
	}
	if !o.busy0 {
		o.modes = slices.DeleteFunc(o.modes, func(m string) bool { return m == serialBusy0 })
	}
	if len(o.modes) == 0 {
		return fmt.Errorf("-modes leaves no mode to run")
	}
	return o.validate()
}

// validate reports the first numeric or enumerated setting that cannot be run.
func (o options) validate() error {
	switch {
	case o.rounds < 1:
		return fmt.Errorf("-rounds must be at least 1, not %d", o.rounds)
	case o.duration < 10*time.Millisecond:
		return fmt.Errorf("-duration must be at least 10ms, not %v", o.duration)
	case o.readers < 1 || o.readers > 1024:
		return fmt.Errorf("-readers must be from 1 to 1024, not %d", o.readers)
	case o.writers < 1 || o.writers > 1024:
		return fmt.Errorf("-writers must be from 1 to 1024, not %d", o.writers)
	case o.mixedWriters < 1 || o.mixedWriters > 1024:
		return fmt.Errorf("-mixed-writers must be from 1 to 1024, not %d", o.mixedWriters)
	case !slices.Contains(syncValues, o.sync):
		return fmt.Errorf("-sync must be one of %s, not %q", strings.Join(syncValues, ", "), o.sync)
	case o.stmtCache < -1:
		return fmt.Errorf("-stmt-cache must be -1 (each driver's default) or more, not %d", o.stmtCache)
	}
	return nil
}

// pick returns the names listed in the comma-separated value of flag, in the order of
// known, or all of known when value is empty. An unknown name is an error.
func pick(flag, value string, known []string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return slices.Clone(known), nil
	}
	chosen := map[string]bool{}
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%s: unknown name %q (known: %s)", flag, name, strings.Join(known, ", "))
		}
		chosen[name] = true
	}
	var names []string
	for _, name := range known {
		if chosen[name] {
			names = append(names, name)
		}
	}
	return names, nil
}

// commandLine returns the command that reproduces this run, with every setting spelled out
// so that it does not depend on the defaults of the machine it runs on.
func (o options) commandLine() string {
	args := []string{
		"go run ./cmd/sqlite-serial-bench",
		"-rounds", strconv.Itoa(o.rounds),
		"-duration", o.duration.String(),
		"-readers", strconv.Itoa(o.readers),
		"-defaults=" + strconv.FormatBool(o.defaults),
		"-writers", strconv.Itoa(o.writers),
		"-mixed-writers", strconv.Itoa(o.mixedWriters),
		"-sync", o.sync,
		"-stmt-cache", strconv.Itoa(o.stmtCache),
		"-busy0=" + strconv.FormatBool(o.busy0),
		"-workloads", strings.Join(o.workloads, ","),
		"-modes", strings.Join(o.modes, ","),
	}
	if o.out != "" {
		args = append(args, "-out", o.out)
	}
	return strings.Join(args, " ")
}
