#!/usr/bin/env bats
# bench-smoke.bats: runs the benchmark in its quick mode so it cannot rot.
#
# Checks that bench/run starts the real stack, drives every scenario, prints
# the whole report and draws the growth plot, that every registration
# cost exactly one headscale invocation, that GET /machines joins its rows
# with headscale's lists, and that --baseline (here this same build as its
# own baseline) runs its pairs. It never judges speed: the quick
# mode is far too short for that, and the machine may be busy.

bats_require_minimum_version 1.5.0

setup_file() {
	export BENCH_OUT="$BATS_FILE_TMPDIR/report.md"
	export BENCH_PLOT="$BATS_FILE_TMPDIR/growth.svg"
	# One run serves every test below; its status is kept for the first.
	# fd 3 is bats' own channel: nothing started in the background may
	# hold it.
	set +e
	BUILD_DIR="$TOP_BUILDDIR" TMPDIR="$BATS_FILE_TMPDIR" CADDY="$CADDY" \
		"$TOP_SRCDIR/bench/run" --quick --no-build --plot "$BENCH_PLOT" \
		--baseline "$TOP_BUILDDIR" \
		>"$BENCH_OUT" 2>"$BATS_FILE_TMPDIR/progress.log" 3>&-
	echo "$?" >"$BATS_FILE_TMPDIR/status"
	set -e
}

setup() {
	bats_load_library bats-support
	bats_load_library bats-assert
}

@test "bench/run --quick finishes and stops what it started" {
	run -0 cat "$BATS_FILE_TMPDIR/status"
	# Shown only when the test fails: where the run stopped, and why.
	tail -n 20 "$BATS_FILE_TMPDIR/progress.log"
	assert_output 0
	# The working directory, with its sockets and databases, is gone.
	run -0 find "$BATS_FILE_TMPDIR" -maxdepth 1 -name 'sovran-bench.*'
	assert_output ''
}

@test "the throughput table has a row for every scenario" {
	run -0 cat "$BENCH_OUT"
	assert_line --regexp '^\| \(a\) Caddy respond: proxy ceiling \| [0-9]+ \|'
	assert_line --regexp '^\| \(b\) Caddy \+ bench/fixed: transport ceiling \| [0-9]+ \|'
	assert_line --regexp '^\| \(b2\) POST to bench/fixed: ceiling with a body \| [0-9]+ \|'
	assert_line --regexp '^\| \(c\) GET /health \| [0-9]+ \|'
	assert_line --regexp '^\| \(d\) POST /register, valid token \| [0-9]+ \|'
	assert_line --regexp '^\| \(d1\) POST /register, valid token, a new MAC each time \| [0-9]+ \|'
	assert_line --regexp '^\| \(e\) POST /register, wrong token \(401\) \| [0-9]+ \|'
	assert_line --regexp '^\| \(f\) POST /register, over the limit \(429\) \| [0-9]+ \|'
	assert_line --regexp '^\| \(g\) POST /register, 1000 machines \| [0-9]+ \|'
	assert_line --regexp '^\| \(g\) GET /machines, 0 machines \| [0-9]+ \|'
	assert_line --regexp '^\| \(g\) GET /machines, 1000 machines \| [0-9]+ \|'
	assert_line --regexp '^\| \(g\) GET /machines, 1000 machines, headscale lists empty \| [0-9]+ \|'
}

@test "GET /machines joins every size with headscale's lists" {
	# The run itself stops if a listing fell back to its own records or
	# found no joined row where headscale lists nodes.
	run -0 cat "$BENCH_OUT"
	assert_line --regexp '^\| 0 \| 1 / 0 \| [0-9]+ \| - \| - \|'
	assert_line --regexp '^\| 1000 \| 1000 / 600 \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| .* \| expired=200 gone=200 joined=600 \|$'
}

@test "--baseline compares the floods and /health with metrics off and the baseline" {
	run -0 cat "$BENCH_OUT"
	assert_line --regexp '^\| \(c\) GET /health \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \|'
	assert_line --regexp '^\| \(e\) POST /register, wrong token \(401\) \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \|'
	assert_line --regexp '^\| \(f\) POST /register, over the limit \(429\) \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \|'
}

@test "the memory table names every program" {
	run -0 cat "$BENCH_OUT"
	for p in caddy fixed health register machines; do
		assert_line --regexp "^\| $p \| [1-9][0-9]* \| [1-9][0-9]* \|"
	done
}

@test "every registration cost exactly one headscale invocation" {
	run -0 cat "$BENCH_OUT"
	assert_line --regexp '^\| registrations recorded during those runs \| [1-9][0-9]* \|$'
	assert_line '| invocations per registration | 1.000 |'
	assert_line '| 1 headscale invocation per registration | 1.000 | PASS |'
}

@test "the rate-limit table stays bounded through both floods" {
	# Not speed: one row per second of the window, and no refused
	# attempt stored, hold however fast the floods run.
	run -0 cat "$BENCH_OUT"
	assert_line --regexp '^\| rate-limit table after \(e\) <= 61 rows .* \| [0-9]+ \| PASS \|$'
	assert_line --regexp '^\| attempts counted after \(f\) <= 5 \(the limit\) \| [0-5] \| PASS \|$'
}

@test "every target is reported with a verdict" {
	# Eight targets, and (c), (e) and (f) against the baseline.
	run -0 grep -cE '^\| .* \| (PASS|MISS) \|$' "$BENCH_OUT"
	assert_output 11
}

@test "the growth plot is drawn" {
	run -0 head -c 400 "$BENCH_PLOT"
	assert_output --partial '<svg'
}

@test "bench/run is shellcheck-clean" {
	run -0 "$SHELLCHECK" "$TOP_SRCDIR/bench/run"
}
