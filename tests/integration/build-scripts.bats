#!/usr/bin/env bats
# build-scripts.bats: what a newcomer meets first. scripts/deps.sh waits
# (for a bounded time, saying so) while another apt holds apt's lock;
# scripts/test-all.sh counts skipped cases and really builds with
# --enable-werror when an earlier build was configured without it;
# configure's summary shows expanded paths; make distcheck builds with
# --enable-werror too.

# shellcheck disable=SC2016,SC2034 # literal $ in patterns; variables test-all.sh reads
bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

# fake_apt DIR MODE: an apt-get in DIR that fails with apt's lock message
# MODE times (MODE "always": every time) and then succeeds; it counts its
# calls in DIR/calls.
fake_apt() {
	mkdir -p "$1"
	cat >"$1/apt-get" <<-EOF
	#!/bin/sh
	n=\$(cat "$1/calls" 2>/dev/null || echo 0)
	n=\$((n + 1))
	echo "\$n" >"$1/calls"
	case $2 in
	always) ;;
	other) echo "E: Unable to locate package nosuch" >&2; exit 100 ;;
	*) [ "\$n" -gt $2 ] && exit 0 ;;
	esac
	echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)" >&2
	echo "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?" >&2
	exit 100
	EOF
	chmod +x "$1/apt-get"
}

deps() {
	[[ $(id -u) == 0 ]] || skip "deps.sh runs as root only"
	env PATH="$BATS_TEST_TMPDIR/bin:$PATH" POLICY_RC_D="$BATS_TEST_TMPDIR/policy-rc.d" \
	    APT_LOCK_STEP=1 "$@" "$TOP_SRCDIR/scripts/deps.sh"
}

@test "deps.sh waits while apt's lock is held, then installs" {
	fake_apt "$BATS_TEST_TMPDIR/bin" 2
	run -0 deps env APT_LOCK_WAIT=30
	assert_output --partial "apt's lock is held by another process"
	# Two refusals of update, update, install.
	assert_equal "$(cat "$BATS_TEST_TMPDIR/bin/calls")" 4
	[[ ! -e $BATS_TEST_TMPDIR/policy-rc.d ]] || fail "policy-rc.d left behind"
}

@test "deps.sh gives up after APT_LOCK_WAIT seconds, saying why" {
	fake_apt "$BATS_TEST_TMPDIR/bin" always
	run -1 deps env APT_LOCK_WAIT=2
	assert_output --partial "still held after 2s"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/bin/calls")" 3
}

@test "deps.sh does not wait on other apt errors" {
	fake_apt "$BATS_TEST_TMPDIR/bin" other
	run -1 deps env APT_LOCK_WAIT=30
	assert_output --partial "Unable to locate package"
	refute_output --partial waiting
	assert_equal "$(cat "$BATS_TEST_TMPDIR/bin/calls")" 1
}

# test_all_functions: scripts/test-all.sh's functions, nothing run.
test_all_functions() {
	TEST_ALL_FUNCTIONS_ONLY=1
	# shellcheck source=/dev/null
	. "$TOP_SRCDIR/scripts/test-all.sh"
	# Its shell options are not bats'.
	set +u +o pipefail
	top=$TOP_SRCDIR
}

@test "test-all.sh counts skipped cases, and says so on its last line" {
	test_all_functions
	printf '%s\n' '# TOTAL: 9' '# PASS:  6' '# SKIP:  2' '# XFAIL: 0' \
	    '# FAIL:  1' '# XPASS: 0' '# ERROR: 0' >"$BATS_TEST_TMPDIR/log"
	run -0 count "$BATS_TEST_TMPDIR/log"
	assert_output "6 1 2"
	run -0 tail -n 1 <(grep -F 'passed, $failed failed' "$TOP_SRCDIR/scripts/test-all.sh")
	assert_output --partial 'echo "$passed passed, $failed failed, $skipped skipped"'
}

@test "a build configured without --enable-werror is reconfigured and rebuilt" {
	local b="$BATS_TEST_TMPDIR/b"
	test_all_functions
	mkdir -p "$b"
	(cd "$b" && "$TOP_SRCDIR/configure" -q) >/dev/null
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$b" lib/libprov.a >/dev/null
	run -0 configure_dir "$b" --enable-werror
	assert_output --partial 'rebuilding'
	run -0 "$b/config.status" --config
	assert_output --partial enable-werror
	# Reconfiguring alone would leave every object as it was built,
	# without -Werror; they are compiled again, with it.
	run -0 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$b" V=1 lib/libprov.a
	assert_output --regexp ' -Werror( |$).* -c -o lib/conf\.o '
	# Configured the same way again: nothing to do.
	touch -d '2000-01-01' "$b/config.status"
	run -0 configure_dir "$b" --enable-werror
	[[ $(stat -c %Y "$b/config.status") == $(date -d 2000-01-01 +%s) ]] ||
	    fail "configured again without need"
}

@test "configure's summary shows every path expanded" {
	local b="$BATS_TEST_TMPDIR/s"
	mkdir -p "$b"
	run -0 bash -c 'cd "$1" && "$2/configure" --prefix=/opt/sp --sysconfdir=/etc' \
	    sh "$b" "$TOP_SRCDIR"
	refute_output --partial '${'
	assert_line --regexp '^	systemd units: +/opt/sp/lib/systemd/system$'
	assert_line --regexp '^	configuration: +/etc/sovran-provisioner/environment$'
	assert_line --regexp '^	programs: +/opt/sp/libexec/sovran-provisioner$'
}

@test "make distcheck configures with --enable-werror" {
	run -0 grep -E '^AM_DISTCHECK_CONFIGURE_FLAGS = .*--enable-werror' \
	    "$TOP_BUILDDIR/Makefile"
}
