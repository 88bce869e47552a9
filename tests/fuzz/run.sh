#!/usr/bin/env bash
#
# run.sh: runs the libFuzzer targets, one after another, for SECONDS each
# (default 300), and prints what each did: executions, coverage, corpus
# size, and whether anything crashed or broke a promise.
#
#	tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# TARGET is register, auth, request, users or preauthkey (default: all).
# The targets come from a build configured with
#
#	CC=clang .../configure --enable-fuzzing
#
# in FUZZ_BUILD_DIR (default: build/fuzz under the source tree, where
# scripts/test-all.sh makes it). CI runs a short smoke of each ("run.sh
# 20"); a longer run, minutes per target, is how the figures in
# docs/reliability.md were measured.
#
# The seed corpus in tests/fuzz/corpus/ is only read; new inputs go to a
# scratch corpus in the run directory (FUZZ_RUN_DIR, default a fresh
# directory under FUZZ_BUILD_DIR/fuzz-runs), beside any crash artifacts
# and each target's log. Exits 1 if any target crashed, leaked, timed out
# or broke a promise, 2 on a usage or setup error.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$top/build/fuzz}
seconds=${1:-300}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
	targets=(register auth request users preauthkey hsview)
fi

if [[ ! $seconds =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: run.sh [SECONDS] [TARGET...]" >&2
	exit 2
fi

run=${FUZZ_RUN_DIR:-$build/fuzz-runs/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$run" || exit 2

# Longest input per target: a little over what the seeds need, so time
# goes into structure rather than size.
max_len() {
	case $1 in
	register | auth) echo 2048 ;;
	request | preauthkey) echo 4096 ;;
	users | hsview) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

# UBSan only reports by default; a report must stop the run to count.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1

failed=0
printf '%-11s %7s %12s %7s %7s  %s\n' target seconds executions cov corpus \
	result | tee "$run/summary.txt"
for t in "${targets[@]}"; do
	bin="$build/tests/fuzz/fuzz-$t"
	seeds="$top/tests/fuzz/corpus/$t"
	if [[ ! -x $bin || ! -d $seeds ]]; then
		echo "run.sh: no target $t (is $build configured with" \
			"--enable-fuzzing and built?)" >&2
		exit 2
	fi
	mkdir -p "$run/corpus/$t" "$run/artifacts"
	t0=$SECONDS
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len="$(max_len "$t")" -dict="$top/tests/fuzz/$t.dict" \
		-artifact_prefix="$run/artifacts/$t-" -print_final_stats=1 \
		"$run/corpus/$t" "$seeds" >"$run/$t.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/$t.log")
	last=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$run/$t.log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
	result=ok
	if ((rc != 0)) || compgen -G "$run/artifacts/$t-*" >/dev/null; then
		result="FAILED (exit $rc; see $run/$t.log)"
		failed=1
	fi
	printf '%-11s %7s %12s %7s %7s  %s\n' "$t" "$((SECONDS - t0))" \
		"${execs:-?}" "${cov:-?}" "${corp:-?}" "$result" |
		tee -a "$run/summary.txt"
	if [[ $result != ok ]]; then
		tail -n 40 "$run/$t.log" >&2
	fi
done
echo "run directory: $run"
exit "$failed"
