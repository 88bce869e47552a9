-- 004-key-expired.sql: when we expired a registration's key ahead of its
-- time.
--
-- A machine holds one live key from us: when its MAC registers again, the
-- key of the earlier registration is expired in headscale first. The row
-- keeps key_expires_at as handed out (what the client was told) and
-- records here when the key stopped working instead; NULL while it runs
-- its course. The live keys of a MAC are those without it.

ALTER TABLE machines ADD COLUMN key_expired_at INTEGER;

PRAGMA user_version = 4;
