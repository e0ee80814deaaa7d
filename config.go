package sqliteserial

import (
	"fmt"
	"log/slog"
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
	keyReadersMax   = "_serial_readers_max"
	keyWriteWait    = "_serial_write_wait"
	keyQueryTimeout = "_serial_query_timeout"
	keyWALLimit     = "_serial_wal_limit"
	keyBatchMax     = "_serial_batch_max"
	keyCheckpoint   = "_serial_checkpoint"
	keyPrefix       = "_serial_"
)

// maxReaders bounds _serial_readers: SQLite itself allows far more readers, but beyond
// this the pool costs memory without adding parallelism.
const maxReaders = 1024

// maxBatchMax bounds _serial_batch_max.
const maxBatchMax = 4096

// minDefaultReadersMax is the least default for the most readers open at once
// (_serial_readers_max).
const minDefaultReadersMax = 64

// defaultWALLimit is the size past which the driver checkpoints the WAL and starts it over.
const defaultWALLimit = 64 << 20

// defaultWriteWait is the write-wait limit when neither _serial_write_wait nor a positive
// busy timeout is given; it equals mattn's default busy timeout.
const defaultWriteWait = 5 * time.Second

// Config is the configuration of one connector: the mattn/go-sqlite3 DSN plus the driver's
// own settings. The zero value of every field but DSN means its default.
type Config struct {
	// DSN is the data source name handed to mattn/go-sqlite3, without any _serial_ key:
	// a plain path or a file: URI with any of mattn's keys and SQLite's URI parameters.
	DSN string
	// Readers is the reader connections the connector keeps (_serial_readers). Zero means
	// GOMAXPROCS, but at least 2.
	Readers int
	// ReadersMax is the most reader connections open at once (_serial_readers_max). A read
	// that finds every reader in use opens another, up to ReadersMax; at ReadersMax, reads
	// wait in FIFO order, honouring their context. A read nested in a session's open rows
	// never waits: it opens a reader beyond ReadersMax if it must, and so does a read that
	// waited 100ms at ReadersMax, up to twice ReadersMax (a query inside a loop over the rows
	// of another, through the *sql.DB, in more goroutines than ReadersMax). Zero means an
	// eighth of the process's limit on open files (each reader of a WAL database holds three:
	// the database, its WAL and its shared memory), at least 64 and at most 1024, or 4 times
	// Readers (at least 64) where that limit is unknown; it is never less than Readers.
	ReadersMax int
	// WriteWait is how long a unit of work waits for the writer before it fails with a
	// *WriteWaitError (_serial_write_wait). Zero means the DSN's busy timeout
	// (_busy_timeout or _timeout) when it is positive, else 5s.
	WriteWait time.Duration
	// QueryTimeout is the time limit of every statement, reads and writes alike
	// (_serial_query_timeout). Zero means no limit. A context deadline that comes sooner wins.
	QueryTimeout time.Duration
	// WALLimit is the size of the WAL file, in bytes, past which the writer checkpoints it
	// and starts it over, waiting for readers of older snapshots to finish
	// (_serial_wal_limit). Zero means 64 MiB; a negative value leaves checkpoints to
	// SQLite alone, which cannot start the WAL over while reads overlap without pause.
	WALLimit int64
	// BatchMax is the most autocommit writes one group commit takes (_serial_batch_max): a
	// write that finds others waiting for the writer runs with them in one transaction, a
	// savepoint each, and one COMMIT (see the README's Group commit). Zero means 64, or 1
	// when Driver has a ConnectHook (which may install commit hooks); 1 turns group commit
	// off.
	BatchMax int
	// ExternalCheckpoints leaves every checkpoint of the WAL to another process, such as
	// Litestream (_serial_checkpoint=external; _serial_checkpoint=driver is the default):
	// the writer runs no checkpoint when the WAL passes a size (WALLimit must be 0 or
	// negative), Close does not checkpoint, nor does SQLite when the driver's connection
	// is the last on the file to close (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE), and the writer
	// and every session connection run PRAGMA wal_autocheckpoint = 0, as Litestream
	// advises, so that SQLite's own checkpoints do not race the other process's either.
	// The WAL then grows until that process checkpoints it.
	ExternalCheckpoints bool
	// Logger, when set, gets one record, at level Warn, each time a unit of work waited for
	// the writer longer than LogWaitsOver (naming what held the writer and for how long),
	// a statement was stopped by its time limit, or a checkpoint could not complete. Nil
	// logs nothing. It has no DSN form.
	Logger *slog.Logger
	// LogWaitsOver is the wait for the writer past which Logger hears of it. Zero means 1s.
	LogWaitsOver time.Duration
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
	if err := cfg.checkCheckpoints(); err != nil {
		return nil, err
	}
	q.parts = kept
	cfg.DSN = q.String()
	return cfg, nil
}

// checkCheckpoints refuses a WAL limit, which the driver's checkpoints keep, together with
// checkpoints left to another process (a limit of 0, off, agrees with them).
func (c *Config) checkCheckpoints() error {
	if c.ExternalCheckpoints && c.WALLimit > 0 {
		return fmt.Errorf("sqliteserial: %s=external leaves every checkpoint to another process, and %s is the size at which the driver's own checkpoints run: give one of them", keyCheckpoint, keyWALLimit)
	}
	return nil
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
	case keyReadersMax:
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > maxReaders {
			return fmt.Errorf("sqliteserial: DSN key %s: %q is not a whole number from 1 to %d", key, value, maxReaders)
		}
		c.ReadersMax = n
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
	case keyWALLimit:
		n, err := parseSize(value)
		if err != nil {
			return fmt.Errorf("sqliteserial: DSN key %s: %q is not a size (such as 64M, 512K or 1G; 0 for off)", key, value)
		}
		c.WALLimit = n
		if n == 0 {
			c.WALLimit = -1
		}
	case keyBatchMax:
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > maxBatchMax {
			return fmt.Errorf("sqliteserial: DSN key %s: %q is not a whole number from 1 (no group commit) to %d", key, value, maxBatchMax)
		}
		c.BatchMax = n
	case keyCheckpoint:
		switch value {
		case "external":
			c.ExternalCheckpoints = true
		case "driver":
			c.ExternalCheckpoints = false
		default:
			return fmt.Errorf("sqliteserial: DSN key %s: %q is neither external (checkpoints left to another process, such as Litestream) nor driver (the default)", key, value)
		}
	default:
		return fmt.Errorf("sqliteserial: unknown DSN key %s (known: %s, %s, %s, %s, %s, %s, %s)", key, keyReaders, keyReadersMax,
			keyWriteWait, keyQueryTimeout, keyWALLimit, keyBatchMax, keyCheckpoint)
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

// parseSize reads a size in bytes: a whole number, or one followed by K, M or G (with or
// without "B" or "iB"), which are powers of 1024.
func parseSize(s string) (int64, error) {
	upper := strings.ToUpper(s)
	upper = strings.TrimSuffix(strings.TrimSuffix(upper, "B"), "I")
	unit := int64(1)
	if upper != "" {
		switch upper[len(upper)-1] {
		case 'K':
			unit = 1 << 10
		case 'M':
			unit = 1 << 20
		case 'G':
			unit = 1 << 30
		}
		if unit != 1 {
			upper = upper[:len(upper)-1]
		}
	}
	n, err := strconv.ParseInt(upper, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/unit {
		return 0, fmt.Errorf("not a size")
	}
	return n * unit, nil
}

// formatSize writes n bytes in the largest unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// FormatDSN writes the configuration back as one DSN: c.DSN followed by the _serial_ keys
// whose fields are not zero, in a fixed order. ParseDSN of the result gives back c, but for
// Driver, Logger and LogWaitsOver, which have no DSN form.
func (c *Config) FormatDSN() string {
	var keys []string
	if c.Readers != 0 {
		keys = append(keys, keyReaders+"="+strconv.Itoa(c.Readers))
	}
	if c.ReadersMax != 0 {
		keys = append(keys, keyReadersMax+"="+strconv.Itoa(c.ReadersMax))
	}
	if c.WriteWait != 0 {
		keys = append(keys, keyWriteWait+"="+c.WriteWait.String())
	}
	if c.QueryTimeout != 0 {
		keys = append(keys, keyQueryTimeout+"="+c.QueryTimeout.String())
	}
	if c.WALLimit < 0 {
		keys = append(keys, keyWALLimit+"=0")
	} else if c.WALLimit > 0 {
		keys = append(keys, keyWALLimit+"="+formatSize(c.WALLimit))
	}
	if c.BatchMax != 0 {
		keys = append(keys, keyBatchMax+"="+strconv.Itoa(c.BatchMax))
	}
	if c.ExternalCheckpoints {
		keys = append(keys, keyCheckpoint+"=external")
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
	case c.ReadersMax < 0 || c.ReadersMax > maxReaders:
		return fmt.Errorf("sqliteserial: Config.ReadersMax (%s) is %d; it must be from 1 to %d, or 0 for the default", keyReadersMax, c.ReadersMax, maxReaders)
	case c.WriteWait < 0:
		return fmt.Errorf("sqliteserial: Config.WriteWait (%s) is %v; it must be positive, or 0 for the default", keyWriteWait, c.WriteWait)
	case c.QueryTimeout < 0:
		return fmt.Errorf("sqliteserial: Config.QueryTimeout (%s) is %v; it must be positive, or 0 for none", keyQueryTimeout, c.QueryTimeout)
	case c.LogWaitsOver < 0:
		return fmt.Errorf("sqliteserial: Config.LogWaitsOver is %v; it must be positive, or 0 for the default", c.LogWaitsOver)
	case c.BatchMax < 0 || c.BatchMax > maxBatchMax:
		return fmt.Errorf("sqliteserial: Config.BatchMax (%s) is %d; it must be from 1 to %d, or 0 for the default", keyBatchMax, c.BatchMax, maxBatchMax)
	}
	if err := c.checkCheckpoints(); err != nil {
		return err
	}
	for _, p := range splitQuery(c.DSN).parts {
		if key := p.key(); strings.HasPrefix(key, keyPrefix) {
			return fmt.Errorf("sqliteserial: Config.DSN holds the driver key %s; parse it with ParseDSN", key)
		}
	}
	return nil
}

// readersMax is the effective most readers open at once, for a reader limit of readers.
func (c *Config) readersMax(readers int) int {
	if c.ReadersMax > 0 {
		return max(c.ReadersMax, readers)
	}
	n := max(minDefaultReadersMax, 4*readers)
	if files := openFilesLimit(); files > 0 {
		n = int(min(max(files/8, minDefaultReadersMax), maxReaders))
	}
	return max(n, readers)
}

// readerCount is the effective reader limit.
func (c *Config) readerCount() int {
	if c.Readers > 0 {
		return c.Readers
	}
	return max(2, runtime.GOMAXPROCS(0))
}
