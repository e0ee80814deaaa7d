package sqliteserial

import (
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// The driver's own DSN keys. Every other key is mattn/go-sqlite3's or SQLite's and passes
// through unchanged.
const (
	keyReaders      = "_serial_readers"
	keyWriteWait    = "_serial_write_wait"
	keyQueryTimeout = "_serial_query_timeout"
	keyPrefix       = "_serial_"
)

// maxReaders bounds _serial_readers: SQLite itself allows far more readers, but beyond
// this the pool costs memory without adding parallelism.
const maxReaders = 1024

// defaultWriteWait is the write-wait limit when neither _serial_write_wait nor a positive
// busy timeout is given; it equals mattn's default busy timeout.
const defaultWriteWait = 5 * time.Second

// Config is the configuration of one connector: the mattn/go-sqlite3 DSN plus the driver's
// own settings. The zero value of every field but DSN means its default.
type Config struct {
	// DSN is the data source name handed to mattn/go-sqlite3, without any _serial_ key:
	// a plain path or a file: URI with any of mattn's keys and SQLite's URI parameters.
	DSN string
	// Readers is the most reader connections the connector opens (_serial_readers).
	// Zero means GOMAXPROCS, but at least 2.
	Readers int
	// WriteWait is how long a unit of work waits for the writer before it fails with a
	// *WriteWaitError (_serial_write_wait). Zero means the DSN's busy timeout
	// (_busy_timeout or _timeout) when it is positive, else 5s.
	WriteWait time.Duration
	// QueryTimeout is the time limit of every statement, reads and writes alike
	// (_serial_query_timeout). Zero means no limit. A context deadline that comes sooner wins.
	QueryTimeout time.Duration
	// Driver opens every physical connection. Nil means a plain *sqlite3.SQLiteDriver; set it
	// to one with a ConnectHook or Extensions to have them on the writer and every reader.
	// It has no DSN form.
	Driver *sqlite3.SQLiteDriver
}

// ParseDSN splits dsn into the driver's settings and the DSN that mattn/go-sqlite3 sees.
// The _serial_ keys are removed from the query; every other key is kept as written, in
// order. An unknown _serial_ key, a repeated one or an invalid value is an error that
// names the key.
func ParseDSN(dsn string) (*Config, error) {
	cfg := &Config{}
	q := splitQuery(dsn)
	seen := make(map[string]bool)
	var kept []queryPart
	for _, p := range q.parts {
		key := p.key()
		if !strings.HasPrefix(key, keyPrefix) {
			kept = append(kept, p)
			continue
		}
		if seen[key] {
			return nil, fmt.Errorf("sqliteserial: DSN key %s is given more than once", key)
		}
		seen[key] = true
		value, err := url.QueryUnescape(p.rawValue())
		if err != nil {
			return nil, fmt.Errorf("sqliteserial: DSN key %s: %v", key, err)
		}
		if err := cfg.set(key, value); err != nil {
			return nil, err
		}
	}
	q.parts = kept
	cfg.DSN = q.String()
	return cfg, nil
}

// set applies one _serial_ key.
func (c *Config) set(key, value string) error {
	switch key {
	case keyReaders:
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > maxReaders {
			return fmt.Errorf("sqliteserial: DSN key %s: %q is not a whole number from 1 to %d", key, value, maxReaders)
		}
		c.Readers = n
	case keyWriteWait:
		d, err := parseDuration(value)
		if err != nil || d <= 0 {
			return fmt.Errorf("sqliteserial: DSN key %s: %q is not a positive duration (such as 5s, 250ms, or 250 for milliseconds)", key, value)
		}
		c.WriteWait = d
	case keyQueryTimeout:
		d, err := parseDuration(value)
		if err != nil || d < 0 {
			return fmt.Errorf("sqliteserial: DSN key %s: %q is not a duration (such as 2s, 500ms, or 500 for milliseconds; 0 for none)", key, value)
		}
		c.QueryTimeout = d
	default:
		return fmt.Errorf("sqliteserial: unknown DSN key %s (known: %s, %s, %s)", key, keyReaders, keyWriteWait, keyQueryTimeout)
	}
	return nil
}

// parseDuration reads a Go duration ("1.5s") or a whole number of milliseconds ("1500"),
// the unit mattn uses for _busy_timeout.
func parseDuration(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms > int64(time.Duration(1<<63-1)/time.Millisecond) || ms < 0 {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	return time.ParseDuration(s)
}

// FormatDSN writes the configuration back as one DSN: c.DSN followed by the _serial_ keys
// whose fields are not zero, in a fixed order. ParseDSN of the result gives back c, but for
// Driver, which has no DSN form.
func (c *Config) FormatDSN() string {
	var keys []string
	if c.Readers != 0 {
		keys = append(keys, keyReaders+"="+strconv.Itoa(c.Readers))
	}
	if c.WriteWait != 0 {
		keys = append(keys, keyWriteWait+"="+c.WriteWait.String())
	}
	if c.QueryTimeout != 0 {
		keys = append(keys, keyQueryTimeout+"="+c.QueryTimeout.String())
	}
	if len(keys) == 0 {
		return c.DSN
	}
	sep := "?"
	if strings.Contains(c.DSN, "?") {
		sep = "&"
	}
	return c.DSN + sep + strings.Join(keys, "&")
}

// validate checks the fields set directly rather than through ParseDSN.
func (c *Config) validate() error {
	switch {
	case c.Readers < 0 || c.Readers > maxReaders:
		return fmt.Errorf("sqliteserial: Config.Readers (%s) is %d; it must be from 1 to %d, or 0 for the default", keyReaders, c.Readers, maxReaders)
	case c.WriteWait < 0:
		return fmt.Errorf("sqliteserial: Config.WriteWait (%s) is %v; it must be positive, or 0 for the default", keyWriteWait, c.WriteWait)
	case c.QueryTimeout < 0:
		return fmt.Errorf("sqliteserial: Config.QueryTimeout (%s) is %v; it must be positive, or 0 for none", keyQueryTimeout, c.QueryTimeout)
	}
	for _, p := range splitQuery(c.DSN).parts {
		if key := p.key(); strings.HasPrefix(key, keyPrefix) {
			return fmt.Errorf("sqliteserial: Config.DSN holds the driver key %s; parse it with ParseDSN", key)
		}
	}
	return nil
}

// readerCount is the effective reader limit.
func (c *Config) readerCount() int {
	if c.Readers > 0 {
		return c.Readers
	}
	return max(2, runtime.GOMAXPROCS(0))
}
