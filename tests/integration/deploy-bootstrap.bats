#!/usr/bin/env bats
# deploy-bootstrap.bats: sovran-provisioner-bootstrap against the headscale
# stand-in: the first run creates the data directory, token, database and
# both users; later runs change nothing; existing users, a late Headscale,
# a missing or silent one, bad configuration and planted symlinks each end
# the documented way; the token never reaches the output; and a run while
# the API serves leaves it serving.

bats_require_minimum_version 1.5.0
load helper

BOOT="$TOP_BUILDDIR/bootstrap/sovran-provisioner-bootstrap"

setup() {
	dir="$BATS_TEST_TMPDIR"
	data="$dir/data"
	hsconf="$dir/headscale/config.yaml"
	calls="$dir/headscale/standin/calls.log"
	mkdir -p "$dir/headscale/standin"
	printf 'server_url: %s\n' "$HEADSCALE_TEST_URL" >"$hsconf"
	# Root hands the files to another user, as in production; anyone else
	# may only bootstrap for themselves.
	if [[ $(id -u) -eq 0 ]]; then
		owner=nobody
	else
		owner=$(id -un)
	fi
}

# boot [VAR=value...]: one run with a clean environment; output (stdout and
# stderr together, as the journal gets them) in $output.
boot() {
	run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    PROVISIONER_DATA_DIR="$data" HEADSCALE_BIN="$HS_STANDIN" \
	    HEADSCALE_CONFIG="$hsconf" PROVISIONER_USER="$owner" \
	    BOOTSTRAP_WAIT=10 HEADSCALE_TIMEOUT=5 "$@" "$BOOT"
}

# creates NAME: how many times the stand-in was asked to create user NAME.
creates() {
	[[ -f $calls ]] || {
		echo 0
		return
	}
	grep -c -E " users create $1( |\$)" "$calls" || true
}

@test "first run: data directory, token, database and both users" {
	boot
	assert_success
	assert_line --partial "created Headscale user sovran-deploy"
	assert_line --partial "created Headscale user admin"

	run -0 stat -c '%a %U' "$data" "$data/enroll-token" "$data/provisioner.db"
	assert_output "750 $owner
600 $owner
600 $owner"
	run -0 cat "$data/enroll-token"
	assert_output --regexp '^[0-9a-f]{64}$'
	# Exactly 64 digits and one newline.
	run -0 stat -c %s "$data/enroll-token"
	assert_output 65
	run -0 sqlite3 "$data/provisioner.db" .tables
	assert_output --partial machines
	[[ $(creates sovran-deploy) -eq 1 && $(creates admin) -eq 1 ]]
	run -0 env HEADSCALE_CONFIG="$hsconf" "$HS_STANDIN" users list -o json
	run -0 jq -r '[.[].name] | sort | join(" ")' <<<"$output"
	assert_output "admin sovran-deploy"
}

@test "the admin token: created apart from the enrollment token, kept, repaired" {
	boot
	assert_success
	refute_output --partial "$(cat "$data/admin-token")"
	run -0 stat -c '%a %U %s' "$data/admin-token"
	assert_output "600 $owner 65"
	run -0 cat "$data/admin-token"
	assert_output --regexp '^[0-9a-f]{64}$'
	[[ $(cat "$data/admin-token") != "$(cat "$data/enroll-token")" ]]
	# Kept as it is on the next run.
	cp -p "$data/admin-token" "$dir/admin.first"
	boot
	assert_success
	run -0 cmp "$dir/admin.first" "$data/admin-token"
	# Blank: replaced, and the log says so.
	: >"$data/admin-token"
	boot
	assert_success
	assert_output --partial "admin-token is empty or only white space"
	run -0 cat "$data/admin-token"
	assert_output --regexp '^[0-9a-f]{64}$'
	# Missing: created again.
	rm "$data/admin-token"
	boot
	assert_success
	[[ -s $data/admin-token ]]
}

@test "the token never appears in the output" {
	boot
	assert_success
	first=$output
	boot
	assert_success
	token=$(cat "$data/enroll-token")
	[[ $first != *"$token"* && $output != *"$token"* ]]
}

@test "second run changes nothing: same token, same database, no users create" {
	boot
	assert_success
	cp -p "$data/enroll-token" "$dir/token.first"
	before=$(stat -c '%i %Y' "$data/enroll-token")
	boot
	assert_success
	assert_line --partial "Headscale user sovran-deploy exists"
	assert_line --partial "Headscale user admin exists"
	refute_output --partial "created"
	run -0 cmp "$dir/token.first" "$data/enroll-token"
	[[ $(stat -c '%i %Y' "$data/enroll-token") == "$before" ]]
	[[ $(creates sovran-deploy) -eq 1 && $(creates admin) -eq 1 ]]
}

@test "a re-run puts a loosened token back to 0600 and keeps it" {
	boot
	assert_success
	cp -p "$data/enroll-token" "$dir/token.first"
	chmod 0644 "$data/enroll-token"
	boot
	assert_success
	run -0 stat -c '%a %U' "$data/enroll-token"
	assert_output "600 $owner"
	run -0 cmp "$dir/token.first" "$data/enroll-token"
}

@test "a re-run neither writes nor tries to write a new token" {
	boot
	assert_success
	assert_line --partial "created $data/enroll-token"
	boot
	assert_success
	# Nothing created, replaced or even attempted, for either token.
	refute_output --partial "new token"
	refute_output --partial "appeared meanwhile"
	refute_output --partial "replaced $data"
	refute_output --partial "created $data"
}

@test "users that already exist are left alone" {
	for u in sovran-deploy admin; do
		HEADSCALE_CONFIG="$hsconf" "$HS_STANDIN" users create "$u" -o json >/dev/null
	done
	rm -f "$calls"
	boot
	assert_success
	[[ $(creates sovran-deploy) -eq 0 && $(creates admin) -eq 0 ]]
}

@test "custom user names come from HEADSCALE_USER and ADMIN_USER" {
	boot HEADSCALE_USER=fleet ADMIN_USER=ops
	assert_success
	[[ $(creates fleet) -eq 1 && $(creates ops) -eq 1 && $(creates admin) -eq 0 ]]
}

@test "a Headscale that answers late is waited for" {
	echo "down 0" >"$dir/headscale/standin/fault"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    PROVISIONER_DATA_DIR="$data" HEADSCALE_BIN="$HS_STANDIN" \
	    HEADSCALE_CONFIG="$hsconf" PROVISIONER_USER="$owner" \
	    BOOTSTRAP_WAIT=120 "$BOOT" >"$dir/boot.out" 2>&1 3>&- &
	pid=$!
	# Take Headscale "up" only once the bootstrap has found it down.
	wait_until 60 grep -q 'waiting for headscale' "$dir/boot.out"
	rm "$dir/headscale/standin/fault"
	rc=0
	wait "$pid" || rc=$?
	run cat "$dir/boot.out"
	[[ $rc -eq 0 ]] || fail "exit $rc: $output"
	assert_line --partial "headscale answers"
	[[ $(creates sovran-deploy) -eq 1 ]]
}

@test "a Headscale that never answers: exit 4 after BOOTSTRAP_WAIT, no user created" {
	echo "down 0" >"$dir/headscale/standin/fault"
	boot BOOTSTRAP_WAIT=2
	assert_failure 4
	assert_output --partial "headscale did not answer within 2 s"
	[[ $(creates sovran-deploy) -eq 0 ]]
	# The token and database are there already, for the next try.
	[[ -s $data/enroll-token && -s $data/provisioner.db ]]
}

@test "a missing headscale binary: exit 3, naming the path" {
	boot HEADSCALE_BIN="$dir/no/such/headscale"
	assert_failure 3
	assert_output --partial "headscale not found or not executable: $dir/no/such/headscale"
}

@test "headscale refusing to create a user: exit 6" {
	# The stand-in's faults hit a whole command ("users"), and listing must
	# work; so only "users create" is refused, by a wrapper around it.
	cat >"$dir/refusing-headscale" <<-EOF
	#!/bin/sh
	case " \$* " in *" users create "*)
		echo '{"error": "rpc error: code = Internal desc = refused"}' >&2
		exit 1 ;;
	esac
	exec "$HS_STANDIN" "\$@"
	EOF
	chmod +x "$dir/refusing-headscale"
	boot HEADSCALE_BIN="$dir/refusing-headscale"
	assert_failure 6
	assert_output --partial "cannot create Headscale user sovran-deploy"
}

@test "bad configuration: exit 2, naming the variable" {
	boot BOOTSTRAP_WAIT=soon
	assert_failure 2
	assert_output --partial BOOTSTRAP_WAIT
	boot ADMIN_USER=-rf
	assert_failure 2
	assert_output --partial ADMIN_USER
	boot PROVISIONER_USER=no-such-user-here
	assert_failure 2
	assert_output --partial "PROVISIONER_USER: no such user"
	boot KEY_EXPIRY=1.5h
	assert_failure 2
	assert_output --partial KEY_EXPIRY
	run -0 "$BOOT" --help 2>&1 || true
}

@test "arguments are refused" {
	run -2 "$BOOT" --help
	assert_output --partial "takes no arguments"
}

@test "another user is refused unless it is PROVISIONER_USER" {
	[[ $(id -u) -eq 0 ]] || skip "needs root to run as someone else"
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PROVISIONER_DATA_DIR="$data" \
	    HEADSCALE_BIN="$HS_STANDIN" HEADSCALE_CONFIG="$hsconf" PROVISIONER_USER=root \
	    setpriv --reuid=nobody --regid=nogroup --clear-groups "$BOOT"
	assert_failure 5
	assert_output --partial "must run as root"
	[[ ! -e $data ]]
}

@test "planted symlinks are not followed: exit 5, the target untouched" {
	echo "not a token" >"$dir/victim"
	chmod 0644 "$dir/victim"
	mkdir -m 0750 "$data"
	[[ $(id -u) -ne 0 ]] || chown nobody "$data"
	ln -s "$dir/victim" "$data/enroll-token"
	boot
	assert_failure 5
	assert_output --partial "enroll-token"
	run -0 stat -c '%a %U' "$dir/victim"
	assert_output "644 $(id -un)"

	rm "$data/enroll-token"
	rmdir "$data"
	ln -s "$dir" "$data"
	boot
	assert_failure 5
	assert_output --partial "not a directory"
}

# plant_victim: a file of the test runner's (root's, when run as root) that
# a hostile service user would like rewritten or handed over, with a copy to
# compare against; and the data directory, the service user's.
plant_victim() {
	printf 'root-owned: do not touch\n' >"$dir/victim"
	chmod 0644 "$dir/victim"
	cp -p "$dir/victim" "$dir/victim.orig"
	victim_stat=$(stat -c '%a %U %G %s %Y' "$dir/victim")
	mkdir -m 0750 "$data"
	[[ $(id -u) -ne 0 ]] || chown nobody "$data"
}

# assert_victim_untouched: same bytes, mode, owner and time as planted.
assert_victim_untouched() {
	run -0 cmp "$dir/victim.orig" "$dir/victim"
	assert_equal "$(stat -c '%a %U %G %s %Y' "$dir/victim")" "$victim_stat"
}

@test "an empty or blank token is replaced, and the log says so" {
	local blank
	for blank in '' $' \n\t\n'; do
		rm -rf "$data"
		mkdir -m 0750 "$data"
		[[ $(id -u) -ne 0 ]] || chown nobody "$data"
		printf '%s' "$blank" >"$data/enroll-token"
		boot
		assert_success
		assert_output --partial "enroll-token is empty or only white space"
		assert_output --partial "replaced $data/enroll-token"
		run -0 cat "$data/enroll-token"
		assert_output --regexp '^[0-9a-f]{64}$'
		run -0 stat -c '%a %U %h' "$data/enroll-token"
		assert_output "600 $owner 1"
		[[ ! -e $data/.enroll-token.new ]]
	done
}

@test "a symlink at the database or its WAL: exit 5, the target byte-identical" {
	plant_victim
	local name
	for name in provisioner.db provisioner.db-wal provisioner.db-shm; do
		ln -s "$dir/victim" "$data/$name"
		boot
		assert_failure 5
		assert_output --partial "$name: "
		assert_output --partial "refusing to touch it"
		assert_victim_untouched
		# Nothing was started: no token, no database.
		[[ ! -e $data/enroll-token ]]
		rm "$data/$name"
		[[ -z $(ls -A "$data") ]]
	done
}

@test "a hard link to another file: exit 5, nothing touched" {
	plant_victim
	local name
	for name in enroll-token provisioner.db provisioner.db-wal; do
		ln "$dir/victim" "$data/$name"
		boot
		assert_failure 5
		assert_output --partial "$name: has 2 hard links"
		assert_victim_untouched
		[[ $(ls -A "$data") == "$name" ]]
		rm "$data/$name"
	done
}

@test "a symlink in the database's path is refused by sqlite too" {
	# The bootstrap's own checks look at the data directory's entries; the
	# path to it is sqlite's to check (SQLITE_OPEN_NOFOLLOW).
	mkdir "$dir/real" "$dir/via"
	ln -s "$dir/real" "$dir/via/link"
	data="$dir/via/link/data"
	boot
	assert_failure 5
	assert_output --partial "a symbolic link anywhere in its path is refused"
}

# fake_version TEXT: a headscale that prints TEXT for "version" and is the
# stand-in otherwise.
fake_version() {
	printf '%s' "$1" >"$dir/version.txt"
	printf '#!/bin/sh\nif [ "$1" = version ]; then cat %s; exit 0; fi\nexec %s "$@"\n' \
	    "$dir/version.txt" "$HS_STANDIN" >"$dir/hs-version"
	chmod +x "$dir/hs-version"
}

@test "headscale version: 0.28.x passes quietly, anything else is a warning" {
	# The text of 0.28.0 (hscontrol/types/version.go at v0.28.0).
	fake_version $'headscale version v0.28.0\ncommit: abc\nbuild time: unknown\nbuilt with: go1.25 linux/amd64\n'
	boot HEADSCALE_BIN="$dir/hs-version"
	assert_success
	refute_output --partial "warning"
	# The stand-in's own answer, and an older release's bare "v0.28.1".
	boot
	assert_success
	refute_output --partial "warning"
	fake_version $'v0.28.1\n'
	boot HEADSCALE_BIN="$dir/hs-version"
	refute_output --partial "warning"

	fake_version $'headscale version v0.27.1\ncommit: abc\n'
	boot HEADSCALE_BIN="$dir/hs-version"
	assert_success
	assert_output --partial 'warning: headscale version is "0.27.1", not 0.28.x'
	fake_version $'headscale version v0.280.0\n'
	boot HEADSCALE_BIN="$dir/hs-version"
	assert_success
	assert_output --partial 'warning: headscale version is "0.280.0"'
}

@test "a missing headscale: the version check only warns, the wait exits 3" {
	boot HEADSCALE_BIN="$dir/no/such/headscale"
	assert_failure 3
	assert_line --partial "warning: cannot tell headscale's version"
}

@test "a run while the API serves leaves it serving with the same token" {
	stack_start
	register boot-1 aa:bb:cc:dd:ee:01
	assert_equal "$HTTP_STATUS" 200
	token_before=$(cat "$STACK_TOKEN_FILE")
	# The stack's files belong to whoever runs the suite.
	run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    PROVISIONER_DATA_DIR="$STACK_DATA_DIR" HEADSCALE_BIN="$HS_STANDIN" \
	    HEADSCALE_CONFIG="$STACK_HS_CONFIG" PROVISIONER_USER="$(id -un)" "$BOOT"
	assert_success
	assert_equal "$(cat "$STACK_TOKEN_FILE")" "$token_before"
	register boot-2 aa:bb:cc:dd:ee:02
	assert_equal "$HTTP_STATUS" 200
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	run -0 jq -r '[.[].hostname] | sort | join(" ")' <<<"$HTTP_BODY"
	assert_output "boot-1 boot-2"
}

teardown() {
	if [[ -n ${STACK_DIR:-} ]]; then
		stack_stop
	fi
}
