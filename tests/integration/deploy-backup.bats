#!/usr/bin/env bats
# deploy-backup.bats: sovran-provisioner-backup takes a usable archive of a
# server that keeps working, and puts it back.
#
# A stack registers machines while the backup runs, and a writer keeps
# changing a Headscale-like sqlite database at the same time. The archive,
# restored into fresh directories, must hold sound databases, every
# registration that had its 200 before the backup began, and the keys,
# tokens and configuration byte for byte.

bats_require_minimum_version 1.5.0
load helper

BACKUP="$TOP_BUILDDIR/backup/sovran-provisioner-backup"

setup_file() {
	command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
	stack_start
	# Headscale's side: a WAL database, its two private keys, its
	# configuration and policy, and the programs' environment file.
	export HS="$BATS_FILE_TMPDIR/hs"
	mkdir -p "$HS/state" "$HS/config" "$HS/etc"
	chmod 0750 "$HS/state"
	sqlite3 "$HS/state/db.sqlite" 'PRAGMA journal_mode=wal;' \
	    'CREATE TABLE nodes (id INTEGER PRIMARY KEY, name TEXT NOT NULL);' >/dev/null
	head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HS/state/noise_private.key"
	head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HS/state/derp_server_private.key"
	chmod 0600 "$HS/state/"*.key
	printf 'server_url: https://hs.example.net\n' >"$HS/config/config.yaml"
	printf '{"acls": []}\n' >"$HS/config/acl.hujson"
	cp "$STACK_DIR/env" "$HS/etc/environment"
}

teardown_file() {
	stack_stop
}

# from CMD...: CMD with the live locations in its environment.
from() {
	env PROVISIONER_DATA_DIR="$STACK_DATA_DIR" \
	    PROVISIONER_ENV_FILE="$HS/etc/environment" \
	    HEADSCALE_STATE_DIR="$HS/state" HEADSCALE_CONFIG_DIR="$HS/config" "$@"
}

# into DIR CMD...: CMD with fresh locations under DIR in its environment.
into() {
	local d=$1
	shift
	env PROVISIONER_DATA_DIR="$d/data" PROVISIONER_ENV_FILE="$d/etc/environment" \
	    HEADSCALE_STATE_DIR="$d/hs-state" HEADSCALE_CONFIG_DIR="$d/hs-config" "$@"
}

# register_load FILE: registers load-1, load-2, ... until killed; appends
# "N STATUS NANOSECONDS" to FILE after each answer.
register_load() {
	local i=0 code auth
	auth=$(auth_file "$STACK_TOKEN")
	while :; do
		i=$((i + 1))
		code=$(curl -s -o /dev/null -w '%{http_code}' -m 20 -X POST \
		    -H @"$auth" -H 'Content-Type: application/json' \
		    --data-binary "$(register_body "load-$i" "$(printf '02:00:00:00:%02x:%02x' $((i / 256)) $((i % 256)))")" \
		    "$STACK_URL/register") || code=000
		echo "$i $code $(date +%s%N)" >>"$1"
	done
}

# hs_writer: inserts into the Headscale-like database until killed.
hs_writer() {
	local i=0
	while :; do
		i=$((i + 1))
		sqlite3 "$HS/state/db.sqlite" ".timeout 5000" \
		    "INSERT INTO nodes (name) VALUES ('node-$i');" || true
	done
}

answered() {
	[[ $(wc -l <"$1") -ge $2 ]]
}

@test "a backup taken under load restores whole into fresh directories" {
	local log="$BATS_TEST_TMPDIR/load" load writer t0 archive fresh want got
	archive="$BATS_TEST_TMPDIR/backup.tar"
	fresh="$BATS_TEST_TMPDIR/fresh"
	: >"$log"
	register_load "$log" 3>&- &
	load=$!
	hs_writer 3>&- &
	writer=$!
	wait_until 60 answered "$log" 5
	t0=$(date +%s%N)
	# A umask that would give everyone the archive.
	# shellcheck disable=SC2016 # for the inner sh
	run from sh -c 'umask 000 && exec "$1" -o "$2"' sh "$BACKUP" "$archive"
	wait_until 60 answered "$log" $(($(wc -l <"$log") + 3))
	kill "$load" "$writer"
	wait "$load" "$writer" || true
	echo "$output"
	assert_success
	[[ $(stat -c %a "$archive") == 600 ]] || fail "archive mode $(stat -c %a "$archive")"
	refute_output --partial 'absent'

	run -0 into "$fresh" "$BACKUP" --restore "$archive"
	for db in "$fresh/data/provisioner.db" "$fresh/hs-state/db.sqlite"; do
		run -0 sqlite3 "$db" 'PRAGMA integrity_check;'
		assert_output ok
	done
	# Every registration answered 200 before the backup began is there.
	want=$(awk -v t="$t0" '$2 == 200 && $3 < t { print "load-" $1 }' "$log" | sort)
	[[ -n $want ]] || fail "no registration finished before the backup"
	got=$(sqlite3 "$fresh/data/provisioner.db" \
	    "SELECT hostname FROM machines WHERE hostname LIKE 'load-%';" | sort)
	run -0 comm -23 <(echo "$want") <(echo "$got")
	assert_output ""
	# And the load went on beside the backup, with registrations after it.
	awk -v t="$t0" '$2 == 200 && $3 > t { n++ } END { exit !(n > 0) }' "$log"
	# Keys, tokens and configuration byte for byte, modes kept.
	cmp "$STACK_TOKEN_FILE" "$fresh/data/enroll-token"
	cmp "$HS/etc/environment" "$fresh/etc/environment"
	cmp "$HS/state/noise_private.key" "$fresh/hs-state/noise_private.key"
	cmp "$HS/state/derp_server_private.key" "$fresh/hs-state/derp_server_private.key"
	cmp "$HS/config/config.yaml" "$fresh/hs-config/config.yaml"
	cmp "$HS/config/acl.hujson" "$fresh/hs-config/acl.hujson"
	assert_equal "$(stat -c %a "$fresh/hs-state/noise_private.key")" 600
	assert_equal "$(stat -c %a "$fresh/data/enroll-token")" "$(stat -c %a "$STACK_TOKEN_FILE")"
	assert_equal "$(stat -c %a "$fresh/hs-state")" 750
	# A plain tar file.
	run -0 tar -tf "$archive"
	assert_line ./PROVISIONER_DATA_DIR/provisioner.db
	assert_line ./HEADSCALE_STATE_DIR/noise_private.key
}

@test "restore refuses to overwrite, then does with --force" {
	local archive="$BATS_TEST_TMPDIR/b.tar" fresh="$BATS_TEST_TMPDIR/fresh"
	run -0 from "$BACKUP" -o "$archive"
	run -0 into "$fresh" "$BACKUP" --restore "$archive"
	echo changed >"$fresh/hs-config/acl.hujson"
	rm "$fresh/hs-state/noise_private.key"
	echo stale >"$fresh/data/provisioner.db-wal"
	run -1 into "$fresh" "$BACKUP" --restore "$archive"
	assert_output --partial 'refusing to overwrite'
	assert_output --partial "$fresh/hs-config/acl.hujson"
	# Refused as a whole: not even the missing file came back.
	[[ ! -e $fresh/hs-state/noise_private.key ]]
	assert_equal "$(cat "$fresh/hs-config/acl.hujson")" changed
	run -0 into "$fresh" "$BACKUP" --restore "$archive" --force
	cmp "$HS/config/acl.hujson" "$fresh/hs-config/acl.hujson"
	cmp "$HS/state/noise_private.key" "$fresh/hs-state/noise_private.key"
	# The old database's log would be replayed into the restored one.
	[[ ! -e $fresh/data/provisioner.db-wal ]]
}

@test "absent files are reported and skipped" {
	local archive="$BATS_TEST_TMPDIR/c.tar"
	run -0 from HEADSCALE_STATE_DIR="$BATS_TEST_TMPDIR/none" \
	    PROVISIONER_ENV_FILE="$BATS_TEST_TMPDIR/none/environment" \
	    "$BACKUP" -o "$archive"
	assert_output --partial "$BATS_TEST_TMPDIR/none/db.sqlite: absent, skipped"
	assert_output --partial "$BATS_TEST_TMPDIR/none/noise_private.key: absent, skipped"
	assert_output --partial "$BATS_TEST_TMPDIR/none/environment: absent, skipped"
	run -0 tar -tf "$archive"
	assert_line ./HEADSCALE_CONFIG_DIR/acl.hujson
	refute_line --partial noise_private.key
}

@test "an existing output file, a foreign archive and bad arguments are refused" {
	echo keep >"$BATS_TEST_TMPDIR/there"
	run -1 from "$BACKUP" -o "$BATS_TEST_TMPDIR/there"
	assert_output --partial exists
	assert_equal "$(cat "$BATS_TEST_TMPDIR/there")" keep
	mkdir -p "$BATS_TEST_TMPDIR/x/etc"
	echo hi >"$BATS_TEST_TMPDIR/x/etc/passwd"
	tar -C "$BATS_TEST_TMPDIR/x" -cf "$BATS_TEST_TMPDIR/foreign.tar" .
	run -1 into "$BATS_TEST_TMPDIR/f" "$BACKUP" --restore "$BATS_TEST_TMPDIR/foreign.tar"
	assert_output --partial 'is not from'
	run -2 "$BACKUP"
	run -2 "$BACKUP" -o "$BATS_TEST_TMPDIR/y" --force
}

@test "the script is shellcheck-clean" {
	command -v "${SHELLCHECK:-shellcheck}" >/dev/null || skip "shellcheck is not installed"
	run -0 "${SHELLCHECK:-shellcheck}" --shell=sh "$BACKUP"
}
