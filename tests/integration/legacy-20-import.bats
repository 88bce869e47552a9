#!/usr/bin/env bats
#
# legacy-20-import.bats: the bootstrap imports the Flask provisioner's
# machines.json from the data directory once: good records become rows
# with their original times (no key, no client address), bad ones are
# named in the log and skipped, the file is renamed machines.json.imported,
# and the import is one transaction. A running stack then lists the rows.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helper

BOOT="$TOP_BUILDDIR/bootstrap/sovran-provisioner-bootstrap"

setup_file() {
	stack_start
}

teardown_file() {
	stack_stop
}

setup() {
	data=$STACK_DATA_DIR
	rm -f "$data/machines.json" "$data/machines.json.imported"
	sqlite3 "$STACK_DB" 'DELETE FROM machines; DROP TRIGGER IF EXISTS refuse'
}

# boot: the bootstrap on the stack's data directory, as its unit runs it.
boot() {
	run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    PROVISIONER_DATA_DIR="$data" HEADSCALE_BIN="$HS_STANDIN" \
	    HEADSCALE_CONFIG="$STACK_HS_CONFIG" PROVISIONER_USER="$(id -un)" \
	    BOOTSTRAP_WAIT=10 HEADSCALE_TIMEOUT=5 "$BOOT"
}

# sample: a machines.json as the Flask service wrote it (indent 2, keyed by
# MAC, float times), with three good records and five bad ones.
sample() {
	cat >"$data/machines.json" <<-'JSON'
	{
	  "52:54:00:12:34:56": {
	    "hostname": "sovran-deploy-0123456789abcdef",
	    "mac": "52:54:00:12:34:56",
	    "registered_at": 1775948400.75,
	    "tailscale_ip": ""
	  },
	  "aa:bb:cc:dd:ee:01": {
	    "hostname": "bad name",
	    "mac": "aa:bb:cc:dd:ee:01",
	    "registered_at": 1775948401.0,
	    "tailscale_ip": ""
	  },
	  "unknown": {
	    "hostname": "sovran-deploy-fedcba9876543210",
	    "mac": "unknown",
	    "registered_at": 1775952000.5,
	    "tailscale_ip": "100.64.0.7"
	  },
	  "aa:bb:cc:dd:ee:02": {
	    "hostname": "no-time",
	    "mac": "aa:bb:cc:dd:ee:02",
	    "registered_at": "yesterday",
	    "tailscale_ip": ""
	  },
	  "zz": {
	    "hostname": "bad-mac",
	    "mac": "zz",
	    "registered_at": 1775948402.0,
	    "tailscale_ip": ""
	  },
	  "evil\nkey": "not a record",
	  "aa:bb:cc:dd:ee:03": {
	    "hostname": "negative-time",
	    "mac": "aa:bb:cc:dd:ee:03",
	    "registered_at": -1,
	    "tailscale_ip": ""
	  },
	  "AA-BB-CC-DD-EE-04": {
	    "hostname": "web-4",
	    "registered_at": 1775955600,
	    "tailscale_ip": "not an address"
	  }
	}
	JSON
}

rows() {
	sqlite3 -separator ' ' "$STACK_DB" "SELECT hostname, ifnull(mac, '-'),
	    ifnull(ip, '-'), registered_at, ifnull(key_id, '-'),
	    ifnull(key_expires_at, '-'), ifnull(legacy_tailscale_ip, '-')
	    FROM machines ORDER BY id"
}

GOOD_ROWS="sovran-deploy-0123456789abcdef 52:54:00:12:34:56 - 1775948400 - - -
sovran-deploy-fedcba9876543210 - - 1775952000 - - 100.64.0.7
web-4 aa:bb:cc:dd:ee:04 - 1775955600 - - -"

@test "good records imported with their times, bad ones named and skipped" {
	sample
	boot
	assert_success
	assert_line --partial 'machines.json: record 2 ("aa:bb:cc:dd:ee:01") skipped: hostname'
	assert_line --partial 'machines.json: record 4 ("aa:bb:cc:dd:ee:02") skipped: registered_at'
	assert_line --partial 'machines.json: record 5 ("zz") skipped: mac'
	assert_line --partial 'machines.json: record 6 ("evil?key") skipped: not a JSON object'
	assert_line --partial 'machines.json: record 7 ("aa:bb:cc:dd:ee:03") skipped: registered_at'
	assert_line --partial 'machines.json: imported 3 records (0 there already, 5 skipped); renamed machines.json.imported'
	run -0 rows
	assert_output "$GOOD_ROWS"
	[[ ! -e $data/machines.json && -f $data/machines.json.imported ]]
}

@test "/machines lists the imported rows with their original times" {
	sample
	boot
	assert_success
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	run -0 jq -r '.[] | [.hostname, (.mac // "null"), (.ip // "null"),
	    (.registered_at | fromdateiso8601), (.key_id // "null"),
	    (.key_expires_at // "null")] | join(" ")' <<<"$HTTP_BODY"
	assert_output "web-4 aa:bb:cc:dd:ee:04 null 1775955600 null null
sovran-deploy-fedcba9876543210 null null 1775952000 null null
sovran-deploy-0123456789abcdef 52:54:00:12:34:56 null 1775948400 null null"
}

@test "the import runs once: later runs, and a rerun after a crash, add nothing" {
	sample
	boot
	assert_success
	boot
	assert_success
	refute_output --partial machines.json
	run -0 rows
	assert_output "$GOOD_ROWS"
	# A crash after the commit, before the rename, leaves the file in place.
	mv "$data/machines.json.imported" "$data/machines.json"
	boot
	assert_success
	assert_line --partial 'imported 0 records (3 there already, 5 skipped)'
	run -0 rows
	assert_output "$GOOD_ROWS"
}

@test "a failure half-way imports nothing and leaves the file for the next run" {
	sample
	# The third good record cannot be written.
	sqlite3 "$STACK_DB" "CREATE TRIGGER refuse BEFORE INSERT ON machines
	    WHEN NEW.hostname = 'web-4' BEGIN SELECT RAISE(ABORT, 'refused'); END"
	boot
	assert_success
	assert_line --partial 'machines.json: nothing imported, file left in place'
	run -0 rows
	assert_output ''
	[[ -f $data/machines.json && ! -e $data/machines.json.imported ]]

	sqlite3 "$STACK_DB" 'DROP TRIGGER refuse'
	boot
	assert_success
	run -0 rows
	assert_output "$GOOD_ROWS"
}

@test "a file that is not one JSON object is left in place, the boot goes on" {
	printf '[1, 2]' >"$data/machines.json"
	boot
	assert_success
	assert_line --partial 'machines.json: not one JSON object; not imported'
	assert_line --partial 'ready:'
	[[ -f $data/machines.json ]]
	ln -sf /etc/passwd "$data/machines.json"
	boot
	assert_success
	assert_line --partial 'machines.json: Too many levels of symbolic links'
	run -0 rows
	assert_output ''
	rm "$data/machines.json"
}
