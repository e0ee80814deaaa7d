// Package conformance shows that sqlite-serial is a drop-in replacement for
// mattn/go-sqlite3: the same cases run against both drivers and must give the same answers,
// and sqlx, gorm, goose and golang-migrate work unchanged. It is a module of its own so that
// these libraries never enter the driver's go.mod. It holds tests only.
package conformance
