-- 001-initial.sql: the first schema.
--
-- machines records every key handed out (never the key itself), so an
-- operator can see what enrolled and when; newest first is ORDER BY id DESC.
-- attempts is the rate limiter's sliding-window log: one row per accepted
-- attempt, pruned as it ages out of the window.

CREATE TABLE machines (
	id		INTEGER PRIMARY KEY,
	hostname	TEXT NOT NULL,
	mac		TEXT NOT NULL,
	ip		TEXT NOT NULL,
	registered_at	INTEGER NOT NULL,
	key_id		INTEGER NOT NULL,
	key_expires_at	INTEGER NOT NULL
);

CREATE TABLE attempts (
	key		TEXT NOT NULL,
	at_ms		INTEGER NOT NULL
);

-- Counting one client's attempts in the window reads only this index.
CREATE INDEX attempts_by_key ON attempts (key, at_ms);

-- Dropping every expired attempt, whoever made it, is a range delete here.
CREATE INDEX attempts_by_time ON attempts (at_ms);

-- Every migration ends by naming the version it brings the schema to;
-- db.c checks this before it commits.
PRAGMA user_version = 1;
