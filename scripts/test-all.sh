#!/usr/bin/env bash
#
# test-all.sh: every check the project has, from a fresh Debian 12 machine
# (as root) to one verdict: the README's second quick-start command, and
# what CI runs (.ci/run).
#
# Installs the dependencies, builds out of tree in ./build with
# --enable-werror, runs `make check` (every layer; a failing suite does not
# stop the others) and `make distcheck`, the suite again under ASan+UBSan,
# valgrind and a fuzzing smoke (docs/reliability.md), then prints one
# summary line,
#
#	N passed, N failed, N skipped
#
# as the last line on stdout, and exits non-zero if anything failed.
# Progress, timings and the logs of whatever failed go to stderr; each
# stage's full output is kept in build/test-all/<stage>.log.
#
# Each stage adds to the counts: a stage whose output carries automake's
# test-suite summary adds its cases (PASS + XFAIL passed; FAIL + XPASS +
# ERROR failed; SKIP skipped: a case that could not run here, which the
# summary must not hide); any other stage, or one run with --once, adds one pass or
# one failure. Preparation steps (deps, autogen, configure, build) add only
# their failures. To add a stage, append a `stage NAME COMMAND...` line
# below.
#
# Options: --no-deps skips scripts/deps.sh. BUILD_DIR overrides ./build.
# Sourced with TEST_ALL_FUNCTIONS_ONLY=1, it only defines its functions
# (for its own tests).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${BUILD_DIR:-$top/build}
logdir="$builddir/test-all"
jobs=$(nproc)
deps=1

for arg in "$@"; do
	case $arg in
	--no-deps) deps=0 ;;
	*)
		echo "test-all.sh: unknown option: $arg" >&2
		exit 2
		;;
	esac
done

passed=0
failed=0
skipped=0
started=$SECONDS

note() {
	printf '%s\n' "$*" >&2
}

# count LOG: prints "pass fail skip" from automake's summaries in LOG, or
# nothing when LOG has none.
count() {
	awk '/^# (PASS|XFAIL): / { p += $3; seen = 1 }
	     /^# (FAIL|XPASS|ERROR): / { f += $3; seen = 1 }
	     /^# SKIP: / { s += $3; seen = 1 }
	     END { if (seen) print p + 0, f + 0, s + 0 }' "$1"
}

# configure_dir DIR ARGS...: DIR configured with exactly ARGS. A build
# configured otherwise (without --enable-werror, say) is configured again
# and cleaned, since make does not rebuild objects when only the flags
# changed; one configured the same way is left as it is.
configure_dir() {
	local dir=$1 want have
	local -a had
	shift
	mkdir -p "$dir" && cd "$dir" || return 1
	want=$(printf '%s\n' "$@" | sort)
	if [[ -x config.status ]]; then
		# config.status quotes the arguments as the shell would.
		eval "had=($(./config.status --config))"
		have=$(printf '%s\n' "${had[@]}" | sort)
		[[ $have == "$want" ]] && return 0
		note "    $dir was configured with: ${had[*]:-no options}; configuring with: $* and rebuilding"
		"$top/configure" "$@" && make clean
		return
	fi
	"$top/configure" "$@"
}

# show_failure LOG: what a reader needs to see of a failed stage.
show_failure() {
	local log=$1 suite f
	if grep -q '^# TOTAL: ' "$log"; then
		note "---- failing cases in $log"
		grep -E '^(FAIL|ERROR|XPASS): ' "$log" >&2
	else
		note "---- last lines of $log"
		tail -n 60 "$log" >&2
	fi
	# A failed make check names its failing tests; show their logs (for
	# distcheck they are in the unpacked tree under the build directory).
	sed -n 's/^\(FAIL\|ERROR\|XPASS\): \([^ ]*\).*/\2/p' "$log" | sort -u |
		while read -r suite; do
			f=$(find "$builddir" -path "*/${suite%.*}.log" -print -quit \
				2>/dev/null)
			if [[ -n $f ]]; then
				note "---- $f"
				tail -n 80 "$f" >&2
			fi
		done
	note "----"
}

# run_stage KIND NAME COMMAND...: KIND "prep" counts only a failure,
# "once" one result whatever the output says, "tests" the cases.
run_stage() {
	local kind=$1 name=$2 log t0 rc p f s=0 counts=
	shift 2
	log="$logdir/$name.log"
	t0=$SECONDS
	note "==> $name: $*"
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	if [[ $kind == tests ]]; then
		counts=$(count "$log")
	fi
	if [[ -n $counts ]]; then
		read -r p f s <<<"$counts"
		# A non-zero exit with no failing case (a build error, a crash
		# of the harness) is still a failure.
		if ((rc != 0 && f == 0)); then
			f=1
		fi
	elif ((rc == 0)); then
		p=1 f=0
	else
		p=0 f=1
	fi
	if [[ $kind == prep ]]; then
		p=0
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if ((rc == 0)); then
		note "    ok ($((SECONDS - t0))s${counts:+, $p passed, $s skipped})"
	else
		note "    FAILED (exit $rc, $((SECONDS - t0))s, $p passed, $f failed, $s skipped)"
		show_failure "$log"
	fi
	return "$rc"
}

prep() {
	run_stage prep "$@"
}

# stage [--once] NAME COMMAND...
stage() {
	if [[ $1 == --once ]]; then
		shift
		run_stage once "$@"
	else
		run_stage tests "$@"
	fi
}

if [[ -n ${TEST_ALL_FUNCTIONS_ONLY:-} ]]; then
	return 0
fi

mkdir -p "$logdir" || exit 1

# Preparation. A failed step makes the stages after it fail too, which the
# counts then show; nothing is skipped silently.
if ((deps)); then
	prep deps "$top/scripts/deps.sh"
fi
# A fresh checkout has no configure; once there is one, the Makefile's
# own rules regenerate whatever a changed configure.ac or Makefile.am needs.
if [[ ! -x $top/configure ]]; then
	prep autogen "$top/autogen.sh"
fi
configure_build() (
	configure_dir "$builddir" --enable-werror
)
prep configure configure_build
prep build make -C "$builddir" -j"$jobs"

# The test layers.
stage check make -C "$builddir" -j"$jobs" check
stage --once distcheck make -C "$builddir" -j"$jobs" distcheck

# The whole suite again on an ASan+UBSan build (build/asan). Reports go to
# files, so one from a program a test only talks to counts too; any
# report fails the stage.
sanitizers() (
	dir="$builddir/asan" reports="$logdir/sanitizer-reports" rc=0
	rm -rf "$reports" && mkdir -p "$reports" || exit 1
	configure_dir "$dir" --enable-werror --enable-asan --enable-ubsan || exit 1
	export ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan"
	export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan"
	make -j"$jobs" check || rc=$?
	if compgen -G "$reports/*" >/dev/null; then
		cat "$reports"/*
		rc=1
	fi
	exit "$rc"
)
stage asan-ubsan sanitizers

# Unit tests, corpus replays and 500 FastCGI requests per program under
# valgrind memcheck (docs/reliability.md).
stage valgrind make -C "$builddir" -j"$jobs" check-valgrind

# Every libFuzzer target for 20 s, built with clang in build/fuzz.
fuzz_smoke() (
	dir="$builddir/fuzz"
	configure_dir "$dir" --enable-werror --enable-fuzzing CC=clang || exit 1
	make -j"$jobs" fuzz-targets &&
		FUZZ_BUILD_DIR="$dir" FUZZ_RUN_DIR="$logdir/fuzz" \
			"$top/tests/fuzz/run.sh" 20
)
stage --once fuzz fuzz_smoke

note "==> done in $((SECONDS - started))s"
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
