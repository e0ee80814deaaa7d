// Package route judges SQL for the sqlite-serial driver: where each string of SQL may run
// (on any reader, or on the one writer), and what it leaves behind on the connection that
// runs it (temp objects, settings, a transaction, a schema change).
//
// A string is judged first by its words (Split, JudgeWords), then by SQLite itself: each
// of its statements is prepared on a connection whose authorizer is a Recorder, and
// sqlite3_stmt_readonly together with what the authorizer reported (Events.Observe)
// completes the judgement (Recorder.Judge). Nothing here runs a statement or knows the
// driver's connections; the driver decides which connection judges and caches the
// judgements.
package route
