-- The schema the routing corpus (routes.tsv) is judged against.
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER DEFAULT 0);
CREATE TABLE u(id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id), w TEXT UNIQUE);
CREATE TABLE doc(id INTEGER PRIMARY KEY, body TEXT);
CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
CREATE TABLE "select"("insert" TEXT, "delete" TEXT);
CREATE INDEX t_v ON t(v);
CREATE VIEW tv AS SELECT id, v FROM t;
CREATE TRIGGER t_audit AFTER INSERT ON t BEGIN INSERT INTO u(t_id, w) VALUES (new.id, new.v || new.id); END;
CREATE VIRTUAL TABLE ft USING fts4(body);
CREATE VIRTUAL TABLE rt USING rtree(id, minx, maxx);
INSERT INTO t(v) VALUES ('a'), ('b');
INSERT INTO doc(body) VALUES ('{"a": 1}');
