package main

import (
	"flag"
	"fmt"
	"time"
)

// options are the command-line settings of one run of the demo.
type options struct {
	stress     int           // goroutines that insert a row in the stress scenario
	updates    int           // goroutines that update the row in the break scenario
	workers    int           // workers in the read-modify-write scenario
	iterations int           // transactions per worker in the read-modify-write scenario
	maxSleep   time.Duration // longest random sleep before an update in the break scenario
	rounds     int           // times each scenario runs per driver
	readers    int           // _serial_readers for sqlite-serial; 0 leaves the DSN bare
}

// parseOptions reads the flags in args. On an error it has already printed the error and
// the usage; for -h it returns flag.ErrHelp after printing the usage.
func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("sqlite-serial-demo", flag.ContinueOnError)
	fs.IntVar(&o.stress, "stress", 300, "goroutines that each insert one row in the stress scenario (as many more only read)")
	fs.IntVar(&o.updates, "updates", 200, "goroutines that each run one UPDATE in the break scenario")
	fs.IntVar(&o.workers, "workers", 32, "concurrent workers in the read-modify-write scenario")
	fs.IntVar(&o.iterations, "iterations", 20, "transactions per worker in the read-modify-write scenario")
	fs.DurationVar(&o.maxSleep, "max-sleep", 50*time.Millisecond, "longest random sleep before each UPDATE in the break scenario")
	fs.IntVar(&o.rounds, "rounds", 1, "times each scenario runs per driver, drivers interleaved; the table shows totals")
	fs.IntVar(&o.readers, "readers", 0, "if > 0, adds _serial_readers=N to the sqlite-serial DSN")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	err := o.validate()
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
		return options{}, err
	}
	return o, nil
}

// validate reports the first setting that cannot be run.
func (o options) validate() error {
	positive := []struct {
		name  string
		value int
	}{
		{"-stress", o.stress}, {"-updates", o.updates}, {"-workers", o.workers},
		{"-iterations", o.iterations}, {"-rounds", o.rounds},
	}
	for _, p := range positive {
		if p.value < 1 {
			return fmt.Errorf("%s must be at least 1, not %d", p.name, p.value)
		}
	}
	if o.maxSleep < 0 {
		return fmt.Errorf("-max-sleep must not be negative, not %v", o.maxSleep)
	}
	if o.readers < 0 {
		return fmt.Errorf("-readers must not be negative, not %d", o.readers)
	}
	return nil
}
