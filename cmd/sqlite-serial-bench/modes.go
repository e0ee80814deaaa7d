package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// busyTimeoutMS is the busy timeout every mode gets, in milliseconds, but serial-busy0.
const busyTimeoutMS = 5000

// Mode names that the report and the checks refer to.
const (
	plainMode   = "plain"
	tunedMode   = "tuned"
	twopoolMode = "twopool"
	serialMode  = "serial"
	serialBusy0 = "serial-busy0"
)

// database is what a workload runs on: the pool its writes go to and the pool its plain
// reads go to. They are the same *sql.DB in every mode but twopool.
type database interface {
	writeDB() *sql.DB
	readDB() *sql.DB
}

// settings are the connection settings shared by every mode in one run.
type settings struct {
	sync      string // _sync
	busyMS    int    // _busy_timeout
	readers   int    // R
	defaults  bool   // pools at their defaults (-defaults): no pool sizes, no _serial_readers
	stmtCache int    // _stmt_cache_size; -1 leaves it out
}

// baseSettings returns the settings of opts before a workload or mode changes them.
func baseSettings(opts options) settings {
	return settings{sync: opts.sync, busyMS: busyTimeoutMS, readers: opts.readers, defaults: opts.defaults, stmtCache: opts.stmtCache}
}

// conns returns n, the connections a pool is limited to, or 0, which keeps database/sql's
// defaults, under -defaults.
func (s settings) conns(n int) int {
	if s.defaults {
		return 0
	}
	return n
}

// mattnKeys returns the DSN keys that every mode gets alike.
func (s settings) mattnKeys() []string {
	keys := []string{"_busy_timeout=" + strconv.Itoa(s.busyMS), "_sync=" + s.sync}
	if s.stmtCache >= 0 {
		keys = append(keys, "_stmt_cache_size="+strconv.Itoa(s.stmtCache))
	}
	return keys
}

// poolPlan is one *sql.DB a mode opens.
type poolPlan struct {
	role    string // "db" for one pool doing everything, or "writer" or "reader"
	driver  string
	dsn     string
	maxOpen int // SetMaxOpenConns and SetMaxIdleConns; 0 keeps database/sql's defaults
}

// mode is one way of opening the database that the workloads are compared across.
type mode struct {
	name   string
	about  string // the mode with R connections
	aboutD string // the mode at its defaults (-defaults)
	serial bool   // opened with sqlite-serial, whose counters the report shows
	busy0  bool   // opened with _busy_timeout=0 instead of the common busy timeout
	color  string
	plan   func(path string, s settings) []poolPlan
}

// allModes returns every mode in the order they are shown.
func allModes() []mode {
	return []mode{
		{name: plainMode, color: "#9e9e9e", plan: planPlain,
			about:  `"sqlite3", mattn's default rollback journal (not WAL), one pool of R+1 connections`,
			aboutD: `"sqlite3", mattn's default rollback journal (not WAL), one pool at database/sql's defaults`},
		{name: tunedMode, color: "#64b5f6", plan: planTuned,
			about:  `"sqlite3" with _journal_mode=WAL, one pool of R+1 connections`,
			aboutD: `"sqlite3" with _journal_mode=WAL, one pool at database/sql's defaults`},
		{name: "immediate", color: "#1565c0", plan: planImmediate,
			about:  `tuned plus _txlock=immediate`,
			aboutD: `tuned plus _txlock=immediate`},
		{name: twopoolMode, color: "#ef6c00", plan: planTwoPool,
			about:  `"sqlite3" writer pool of 1 connection (WAL, _txlock=immediate) and a read-only pool of R; the workload picks the pool per call`,
			aboutD: `"sqlite3" writer pool of 1 connection (WAL, _txlock=immediate) and a read-only pool at database/sql's defaults; the workload picks the pool per call`},
		{name: serialMode, color: "#2e7d32", serial: true, plan: planSerial,
			about:  `"sqlite-serial" with _serial_readers=R, database/sql's default pool`,
			aboutD: `"sqlite-serial" without _serial_readers (its default readers), database/sql's default pool`},
		{name: serialBusy0, color: "#9ccc65", serial: true, busy0: true, plan: planSerial,
			about:  `serial with _busy_timeout=0`,
			aboutD: `serial with _busy_timeout=0`},
	}
}

// describe returns the sentence about m for the report: with R connections, or at its
// defaults when defaults is true.
func (m mode) describe(defaults bool) string {
	if defaults {
		return m.aboutD
	}
	return m.about
}

// modeNames returns the names of every mode, in order.
func modeNames() []string {
	var names []string
	for _, m := range allModes() {
		names = append(names, m.name)
	}
	return names
}

// selectModes returns the modes named in names, in the order of allModes.
func selectModes(names []string) []mode {
	var modes []mode
	for _, m := range allModes() {
		for _, n := range names {
			if m.name == n {
				modes = append(modes, m)
			}
		}
	}
	return modes
}

// settingsFor returns the settings mode m gets in a run of workload w.
func (m mode) settingsFor(w workload, opts options) settings {
	s := baseSettings(opts)
	if w.sync != "" {
		s.sync = w.sync
	}
	if m.busy0 {
		s.busyMS = 0
	}
	return s
}

// dsn joins path and keys into a DSN.
func dsn(path string, keys ...string) string {
	return path + "?" + strings.Join(keys, "&")
}

// planPlain is one "sqlite3" pool with mattn's defaults but for the common keys. Like the
// other plans, it limits its pools to R+1 (or 1 and R) connections but under -defaults.
func planPlain(path string, s settings) []poolPlan {
	return []poolPlan{{role: "db", driver: "sqlite3", dsn: dsn(path, s.mattnKeys()...), maxOpen: s.conns(s.readers + 1)}}
}

// planTuned is one "sqlite3" pool in WAL mode.
func planTuned(path string, s settings) []poolPlan {
	keys := append([]string{"_journal_mode=WAL"}, s.mattnKeys()...)
	return []poolPlan{{role: "db", driver: "sqlite3", dsn: dsn(path, keys...), maxOpen: s.conns(s.readers + 1)}}
}

// planImmediate is one "sqlite3" pool in WAL mode whose transactions begin IMMEDIATE.
func planImmediate(path string, s settings) []poolPlan {
	keys := append([]string{"_journal_mode=WAL"}, s.mattnKeys()...)
	keys = append(keys, "_txlock=immediate")
	return []poolPlan{{role: "db", driver: "sqlite3", dsn: dsn(path, keys...), maxOpen: s.conns(s.readers + 1)}}
}

// planTwoPool is the hand-built best practice: a one-connection writer pool, opened first
// so that it creates the file and switches it to WAL, and a read-only reader pool.
func planTwoPool(path string, s settings) []poolPlan {
	wkeys := append([]string{"_journal_mode=WAL"}, s.mattnKeys()...)
	wkeys = append(wkeys, "_txlock=immediate")
	rkeys := append([]string{"mode=ro", "_journal_mode=WAL"}, s.mattnKeys()...)
	return []poolPlan{
		{role: "writer", driver: "sqlite3", dsn: dsn(path, wkeys...), maxOpen: 1},
		{role: "reader", driver: "sqlite3", dsn: dsn(fileURI(path), rkeys...), maxOpen: s.conns(s.readers)},
	}
}

// planSerial is one "sqlite-serial" pool with R readers, or with sqlite-serial's default
// readers (no _serial_readers) under -defaults.
func planSerial(path string, s settings) []poolPlan {
	keys := s.mattnKeys()
	if !s.defaults {
		keys = append([]string{"_serial_readers=" + strconv.Itoa(s.readers)}, keys...)
	}
	return []poolPlan{{role: "db", driver: "sqlite-serial", dsn: dsn(path, keys...)}}
}

// fileURI returns the file: URI of path. A path that is not a real one (a placeholder in
// the report) is kept as it is.
func fileURI(path string) string {
	if !strings.HasPrefix(path, "/") {
		return "file:" + path
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath()
}

// store is an opened mode: its pools, in the order they were opened.
type store struct {
	pools          []*sql.DB
	writer, reader *sql.DB
	closed         bool
}

// writeDB returns the pool for writes and transactions: the writer pool in twopool, else the
// only pool.
func (s *store) writeDB() *sql.DB { return s.writer }

// readDB returns the pool for plain reads: the read-only pool in twopool, else the only pool.
func (s *store) readDB() *sql.DB { return s.reader }

// open opens the pools of m for the database file at path, each checked with a ping, in
// order. When one fails, those already open are closed.
func (m mode) open(ctx context.Context, path string, s settings) (*store, error) {
	st := &store{}
	for _, p := range m.plan(path, s) {
		db, err := openPool(ctx, p)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("opening the %s pool: %w", p.role, err), st.close())
		}
		st.pools = append(st.pools, db)
		if p.role != "reader" {
			st.writer = db
		}
		if p.role != "writer" {
			st.reader = db
		}
	}
	return st, nil
}

// openPool opens and pings one pool of a plan.
func openPool(ctx context.Context, p poolPlan) (*sql.DB, error) {
	db, err := sql.Open(p.driver, p.dsn)
	if err != nil {
		return nil, err
	}
	if p.maxOpen > 0 {
		db.SetMaxOpenConns(p.maxOpen)
		db.SetMaxIdleConns(p.maxOpen)
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return db, nil
}

// close closes the pools in the reverse order of opening, so that the writer, which
// opened first, closes last. Closing again does nothing.
func (s *store) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for i := len(s.pools) - 1; i >= 0; i-- {
		errs = append(errs, s.pools[i].Close())
	}
	return errors.Join(errs...)
}
