package main

import (
	"database/sql"
	"strconv"
)

// target is one driver under test and the DSN it is given for a database file.
type target struct {
	driver string
	dsn    func(path string) string
}

// allTargets returns plain sqlite3 and sqlite-serial, in the order they run and are shown.
// Both get the bare file path; sqlite-serial also gets _serial_readers when opts asks.
func allTargets(opts options) []target {
	plain := target{driver: "sqlite3", dsn: func(path string) string { return path }}
	serial := target{driver: "sqlite-serial", dsn: func(path string) string {
		if opts.readers > 0 {
			return path + "?_serial_readers=" + strconv.Itoa(opts.readers)
		}
		return path
	}}
	return []target{plain, serial}
}

// openDB opens the database file at path with tg's driver, with database/sql's default
// pool settings, and checks that a connection can be made.
func openDB(tg target, path string) (*sql.DB, error) {
	db, err := sql.Open(tg.driver, tg.dsn(path))
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
