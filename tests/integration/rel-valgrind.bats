#!/usr/bin/env bats
#
# rel-valgrind.bats: the three programs under valgrind's memcheck, serving
# 500 FastCGI requests each through Caddy, one after another as a
# long-lived process sees them. No memory error at any point; the heap
# the program holds (valgrind's own count, read live with vgdb) is the
# same after 500 requests as after 100 (for register: grown by no more
# than the database pages sqlite caches); and at a clean exit nothing is
# definitely or indirectly lost. A few plain CGI runs under memcheck too.
#
# Not in the default "make check": a sanitizer build cannot run under
# valgrind. "make check-valgrind" runs it (see docs/reliability.md).

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	if ! command -v valgrind >/dev/null || ! command -v vgdb >/dev/null; then
		skip "valgrind is not installed"
	fi
	export VG_LOGS="$BATS_FILE_TMPDIR/valgrind"
	mkdir -p "$VG_LOGS"
	# Every program the stack starts, and every cgi run, goes under
	# memcheck; each writes its report to <pid>.log.
	export PROV_TEST_WRAPPER="valgrind --tool=memcheck --error-exitcode=99
	    --leak-check=full --show-leak-kinds=definite,indirect
	    --errors-for-leak-kinds=definite,indirect
	    --suppressions=$TOP_SRCDIR/tests/valgrind/provisioner.supp
	    --log-file=$VG_LOGS/%p.log"
	PROV_TEST_WRAPPER=$(tr -s ' \t\n' ' ' <<<"$PROV_TEST_WRAPPER")
	# Everything is slower under valgrind; the window is short so the
	# rate limiter's table stays small while the soak runs.
	export STACK_WAIT=120
	stack_start RATE_LIMIT_MAX=1000000 RATE_LIMIT_WINDOW=1 \
	    HEADSCALE_TIMEOUT=30
}

teardown_file() {
	stack_stop
}

# soak METHOD PATH N [curl args...]: N requests one after another, all in
# one curl through Caddy; fails unless every one was 200.
soak() {
	local method=$1 path=$2 n=$3 cfg="$BATS_TEST_TMPDIR/soak" out i
	shift 3
	for ((i = 0; i < n; i++)); do
		printf 'url = "%s%s"\noutput = "/dev/null"\n' "$STACK_URL" "$path"
	done >"$cfg"
	out=$(curl -sS -X "$method" -w '%{http_code}\n' "$@" -K "$cfg" |
	    sort | uniq -c | awk '{ print $1 "x" $2 }')
	assert_equal "$out" "${n}x200"
}

# heap PID: the bytes PID's heap holds right now, as valgrind counts them
# (lost or not), from a live leak summary; also checks none is
# definitely lost.
heap() {
	local summary
	summary=$(vgdb --pid="$1" leak_check summary 2>&1 | tr -d ,)
	echo "$summary" | grep -q 'definitely lost: 0 ' ||
	    fail "vgdb: $summary"
	awk '{ for (i = 1; i < NF; i++)
		if ($i == "lost:" || $i == "reachable:")
			s += $(i + 1)
	} END { print s + 0 }' <<<"$summary"
}

program_pid() {
	cat "$STACK_DIR/pids/$1"
}

@test "health: 500 requests under memcheck, heap flat from 100 to 500" {
	local pid h100 h500
	pid=$(program_pid health)
	soak GET /health 100
	h100=$(heap "$pid")
	soak GET /health 400
	h500=$(heap "$pid")
	echo "heap after 100: $h100 B, after 500: $h500 B"
	assert_equal "$h500" "$h100"
}

@test "machines: 500 listings under memcheck, heap flat from 100 to 500" {
	local pid h100 h500
	register vg-seed-1 aa:bb:cc:00:a0:01
	register vg-seed-2 aa:bb:cc:00:a0:02
	pid=$(program_pid machines)
	soak GET /machines 100 -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	h100=$(heap "$pid")
	soak GET /machines 400 -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	h500=$(heap "$pid")
	echo "heap after 100: $h100 B, after 500: $h500 B"
	assert_equal "$h500" "$h100"
}

@test "register: 500 registrations under memcheck, heap grows only with the database" {
	local pid h100 h500 p100 p500 pagesize bound
	pid=$(program_pid register)
	soak POST /register 100 -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary "$(register_body vg-soak aa:bb:cc:00:a0:03)"
	h100=$(heap "$pid")
	p100=$(sqlite3 "$STACK_DB" 'PRAGMA page_count')
	soak POST /register 400 -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary "$(register_body vg-soak aa:bb:cc:00:a0:03)"
	h500=$(heap "$pid")
	p500=$(sqlite3 "$STACK_DB" 'PRAGMA page_count')
	pagesize=$(sqlite3 "$STACK_DB" 'PRAGMA page_size')
	# sqlite may cache every new page, each with a few hundred bytes of
	# its own bookkeeping; 16 KiB more for its lookaside and the like. A
	# leak of as little as 100 bytes per request would pass this bound.
	bound=$(((p500 - p100) * (pagesize + 512) + 16384))
	echo "heap after 100: $h100 B, after 500: $h500 B;" \
	    "database grew $((p500 - p100)) pages; bound $bound B"
	((h500 - h100 <= bound))
}

@test "each program exits cleanly under memcheck: no error, nothing lost" {
	local name pid log
	for name in health register machines metrics; do
		pid=$(program_pid "$name")
		stop_program "$name"
		log="$VG_LOGS/$pid.log"
		echo "$name ($log):"
		grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|in use at exit' "$log"
		grep -q 'ERROR SUMMARY: 0 errors' "$log"
		grep -q 'All heap blocks were freed\|definitely lost: 0 bytes' "$log"
		run ! grep -E 'Invalid|uninitialised|Mismatched' "$log"
	done
	for name in health register machines metrics; do
		start_program "$name"
	done
}

@test "plain CGI runs under memcheck: no error, nothing lost" {
	cgi health GET
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" 200
	cgi register POST "$(register_body vg-cgi aa:bb:cc:00:a0:04)"
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" 200
	cgi register POST '{"hostname":'
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" 400
	cgi register POST "$(register_body vg-cgi aa:bb:cc:00:a0:05)" \
	    HTTP_AUTHORIZATION='Bearer wrong'
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" 401
	cgi machines GET "" HTTP_AUTHORIZATION="Bearer $STACK_ADMIN_TOKEN"
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" 200
}
