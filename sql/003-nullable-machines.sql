-- 003-nullable-machines.sql: machines may lack a MAC, a key or a client
-- address, and may be revoked.
--
-- A MAC is unknown (NULL) when a client could not tell it: the ISOs built
-- for the Flask provisioner send "unknown". Rows imported from its
-- machines.json never had a key here nor a client address, only the
-- tailnet address that machine got (legacy_tailscale_ip). revoked_at is
-- when an operator withdrew the registration's key (unix seconds), NULL
-- while it stands. SQLite cannot drop NOT NULL in place, so the table is
-- rebuilt; ids are copied, so nothing that names a row by id changes.

CREATE TABLE machines_new (
	id			INTEGER PRIMARY KEY,
	hostname		TEXT NOT NULL,
	mac			TEXT,
	ip			TEXT,
	registered_at		INTEGER NOT NULL,
	key_id			INTEGER,
	key_expires_at		INTEGER,
	revoked_at		INTEGER,
	legacy_tailscale_ip	TEXT
);

INSERT INTO machines_new (id, hostname, mac, ip, registered_at, key_id,
    key_expires_at)
	SELECT id, hostname, mac, ip, registered_at, key_id, key_expires_at
	FROM machines;

DROP TABLE machines;
ALTER TABLE machines_new RENAME TO machines;

-- The newest registration for a MAC is one step down this index.
CREATE INDEX machines_by_mac ON machines (mac, id);

PRAGMA user_version = 3;
