-- 002-attempt-counts.sql: the rate limiter counts attempts per time slice
-- instead of storing one row per attempt.
--
-- With one row per attempt, deciding on a client meant reading every
-- attempt it made in the window, which grows with the limit an operator
-- sets (a fleet behind one address needs a high one). A row now holds how
-- many attempts one client made in one slice of the window, and a window
-- spans at most about sixty slices, so a decision reads a bounded number
-- of rows whatever the limit. lib/ratelimit.c says how slices are sized
-- and why an attempt is counted a little longer, never shorter, than the
-- window.

CREATE TABLE attempt_counts (
	key		TEXT NOT NULL,
	slice_s		INTEGER NOT NULL,	-- the slice's start, Unix seconds
	n		INTEGER NOT NULL,
	PRIMARY KEY (key, slice_s)
) WITHOUT ROWID;

-- Dropping every expired slice, whoever it belongs to, is a range delete.
CREATE INDEX attempt_counts_by_time ON attempt_counts (slice_s);

-- Attempts still in the window carry over as one-second slices: the finest
-- slicing, so none of them leaves the window sooner than it would have.
INSERT INTO attempt_counts (key, slice_s, n)
	SELECT key, at_ms / 1000, count(*) FROM attempts
	GROUP BY key, at_ms / 1000;

DROP TABLE attempts;

PRAGMA user_version = 2;
