#!/usr/bin/env bash
#
# mutate.sh: mutation testing. Applies each mutant of tests/mutants.tsv, one
# at a time, to a scratch copy of the tree, rebuilds, runs the tests the
# list names for it, and prints a table and the score. A mutant is killed
# when one of its tests fails (or the run times out), survives when they
# all pass. Slow, so not part of CI: run it by hand, after changing the
# code or the tests, with `make mutate` or this script from the top of a
# checkout.
#
#   scripts/mutate.sh [-n] [-k] [-j JOBS] [-t SECONDS] [-l LIST] [ID...]
#
#   -n          only check that each mutant's text is found, once
#   -k          keep the scratch copy (its path is printed at the end)
#   -j JOBS     make -j for builds (default 1; the tests themselves run
#               one mutant at a time)
#   -t SECONDS  time allowed for one mutant's tests (default 900)
#   -l LIST     the mutant list (default tests/mutants.tsv)
#   ID...       only these mutants (default all)
#
# The list is tab-separated: id, file, the exact text, its replacement, the
# tests (as make check's TESTS= takes them, space-separated), and why; in
# the text and its replacement \n is a newline, \t a tab. The text must
# occur exactly once in the file: when it is not there (the code
# moved on) the mutant is "notfound", when it is there more than once
# "ambiguous"; neither counts as killed nor survived, and the list wants
# fixing. A mutant that does not compile is "nobuild", likewise out of the
# score, and so is one whose tests already fail on the unmutated code
# ("badbase"). Lines starting with # are comments; the id "=" marks a mutant
# judged equivalent (it cannot change behaviour), which is applied and
# reported but kept out of the score, its reason in the last column.
#
# The source tree is never written to: the tracked files (with any
# uncommitted edits) are copied to a temporary directory and built there,
# configured like CI but without -Werror, so a mutant that only trips a
# warning is still tested. Progress goes to stderr, the table to stdout.
# Exit status: 0 when every non-equivalent mutant was killed, 1 when some
# survived or could not be tested, 2 when the baseline does not build.

set -euo pipefail

check_only=0
keep=0
jobs=1
limit=900
list=tests/mutants.tsv
while getopts nkj:t:l: opt; do
	case $opt in
	n) check_only=1 ;;
	k) keep=1 ;;
	j) jobs=$OPTARG ;;
	t) limit=$OPTARG ;;
	l) list=$OPTARG ;;
	*) sed -n '11,20p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
only=("$@")

top=$(cd "$(dirname "$0")/.." && pwd)
[[ $list == /* ]] || list="$top/$list"
[[ -r $list ]] || { echo "mutate: no list $list" >&2; exit 2; }

say() { printf 'mutate: %s\n' "$*" >&2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mutate.XXXXXX")
cleanup() {
	if ((keep)); then
		say "scratch copy kept in $scratch"
	else
		rm -rf "$scratch"
	fi
}
trap cleanup EXIT

# The tree as it is: tracked files, edits included, nothing built.
src="$scratch/src"
mkdir -p "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top" ls-files -z --cached --others --exclude-standard |
	    (cd "$top" && xargs -0 tar -cf - --no-recursion --) |
	    tar -xf - -C "$src"
else
	(cd "$top" && tar -cf - --exclude=./build --exclude='*.o' .) |
	    tar -xf - -C "$src"
fi

build="$src/build"

# configure: autogen and configure the scratch copy.
configure() {
	say "configuring a scratch copy in $src"
	if ! (cd "$src" && ./autogen.sh && mkdir -p build && cd build &&
	    ../configure) >"$scratch/configure.log" 2>&1; then
		say "configure failed; see $scratch/configure.log"
		keep=1
		exit 2
	fi
}

# build LOG: builds everything make check would, quietly.
build() {
	make -C "$build" -j"$jobs" all >"$1" 2>&1 &&
	    make -C "$build" -j"$jobs" check TESTS= >>"$1" 2>&1
}

# run_tests LOG TESTS...: 0 when all pass, 1 when one fails, 124 on timeout.
run_tests() {
	local log=$1 rc=0
	shift
	timeout --kill-after=30 "$limit" \
	    make -C "$build" check TESTS="$*" >"$log" 2>&1 || rc=$?
	case $rc in
	0) return 0 ;;
	124|137) return 124 ;;
	*) return 1 ;;
	esac
}

# Reads the list into arrays. Columns are split on single tabs, so an
# empty replacement (a deleted check) stays a column of its own.
ids=() files=() texts=() repls=() tests=() whys=()
while IFS= read -r line || [[ -n $line ]]; do
	[[ -z $line || $line == \#* ]] && continue
	IFS=$'\x1f' read -r id file text repl t why <<<"${line//$'\t'/$'\x1f'}"
	if [[ -z $id || -z $file || -z $text || -z $t ]]; then
		say "malformed line in $list: $line"
		exit 2
	fi
	ids+=("$id") files+=("$file") texts+=("$text") repls+=("$repl")
	tests+=("$t") whys+=("$why")
done <"$list"

# wanted ID [ASKED...]: whether ID is among ASKED (all when none were).
wanted() {
	local w
	(($# == 1)) && return 0
	for w in "${@:2}"; do
		[[ $w == "$1" ]] && return 0
	done
	return 1
}

# baseline: the unmutated tree must build, and each test named for the
# mutants asked for must pass on it. A test that fails already is listed
# in $badbase, and its mutants are reported "badbase", not tested: a
# broken suite elsewhere does not stop the run, nor count as kills.
badbase=" "
baseline() {
	local n t all=()

	say "building the baseline"
	if ! build "$scratch/baseline-build.log"; then
		say "the baseline does not build; see $scratch/baseline-build.log"
		keep=1
		exit 2
	fi
	for ((n = 0; n < ${#ids[@]}; n++)); do
		wanted "${ids[n]}" "${only[@]}" || continue
		read -r -a t <<<"${tests[n]}"
		all+=("${t[@]}")
	done
	mapfile -t all < <(printf '%s\n' "${all[@]}" | sort -u)
	for t in "${all[@]}"; do
		say "baseline: $t"
		if ! run_tests "$scratch/baseline-${t##*/}.log" "$t"; then
			say "baseline: $t FAILS on the unmutated code; see" \
			    "$scratch/baseline-${t##*/}.log"
			badbase+="$t "
			keep=1
		fi
	done
}

if ((!check_only)); then
	configure
	baseline
fi

# edit count|apply TEXT REPL FILE: how often TEXT occurs in FILE, or
# replaces its one occurrence by REPL. In both, \n and \t stand for a
# newline and a tab, and \\ for a backslash.
edit() {
	MODE=$1 TEXT=$2 REPL=$3 perl -0777 -e '
		sub lit { my $s = shift;
			$s =~ s/\\(.)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : $1/ge;
			return $s }
		my ($t, $r) = (lit($ENV{TEXT}), lit($ENV{REPL}));
		local $/; my $f = $ARGV[0];
		open my $in, "<", $f or die "$f: $!"; my $s = <$in>; close $in;
		if ($ENV{MODE} eq "count") {
			my $n = () = $s =~ /\Q$t\E/g; print $n; exit 0 }
		$s =~ s/\Q$t\E/$r/;
		open my $out, ">", $f or die "$f: $!"; print $out $s;
		close $out or die "$f: $!"' "$4"
}

declare -A status
killed=0 survived=0 equivalent=0 untested=0
total=${#ids[@]}
i=0
for ((n = 0; n < total; n++)); do
	id=${ids[n]} file=${files[n]}
	wanted "$id" "${only[@]}" || continue
	i=$((i + 1))
	f="$src/$file"
	log="$scratch/$id"
	if [[ ! -f $f ]]; then
		status[$n]=notfound
	else
		case $(edit count "${texts[n]}" "" "$f") in
		0) status[$n]=notfound ;;
		1) status[$n]=apply ;;
		*) status[$n]=ambiguous ;;
		esac
	fi
	if [[ ${status[$n]} == apply ]] && ((check_only)); then
		status[$n]=found
	elif [[ ${status[$n]} == apply ]]; then
		read -r -a t <<<"${tests[n]}"
		for x in "${t[@]}"; do
			[[ $badbase == *" $x "* ]] && status[$n]=badbase
		done
	fi
	if [[ ${status[$n]} == apply ]]; then
		say "[$i] $id: $file"
		cp "$f" "$scratch/orig"
		edit apply "${texts[n]}" "${repls[n]}" "$f"
		if ! build "$log.build"; then
			status[$n]=nobuild
		else
			rc=0
			run_tests "$log.tests" "${t[@]}" || rc=$?
			case $rc in
			0) status[$n]=survived ;;
			124) status[$n]=timeout ;;
			*) status[$n]=killed ;;
			esac
		fi
		# A fresh mtime, so make rebuilds what the mutant touched.
		cp "$scratch/orig" "$f"
		touch "$f"
	fi
	if [[ ${ids[n]} == =* ]]; then
		equivalent=$((equivalent + 1))
		[[ ${status[$n]} == survived ]] && status[$n]=equivalent
	fi
	say "[$i] $id: ${status[$n]}"
done

printf '%-14s %-10s %-38s %s\n' MUTANT STATUS FILE WHY
for ((n = 0; n < total; n++)); do
	[[ -n ${status[$n]:-} ]] || continue
	printf '%-14s %-10s %-38s %s\n' "${ids[n]}" "${status[$n]}" \
	    "${files[n]}" "${whys[n]}"
	[[ ${ids[n]} == =* ]] && continue
	case ${status[$n]} in
	found) ;;
	killed|timeout) killed=$((killed + 1)) ;;
	survived) survived=$((survived + 1)) ;;
	*) untested=$((untested + 1)) ;;
	esac
done
if ((check_only)); then
	printf '\n%d mutants, %d whose text is not found once\n' "$i" \
	    "$untested"
	((untested == 0))
	exit
fi
scored=$((killed + survived))
if ((scored > 0)); then
	score=$((100 * killed / scored))
else
	score=0
fi
printf '\n%d mutants: %d killed, %d survived, %d equivalent, %d not tested ' \
    "$i" "$killed" "$survived" "$equivalent" "$untested"
printf '(text not found, ambiguous, not building or failing unmutated)\n'
printf 'score: %d%% of %d non-equivalent mutants killed\n' "$score" "$scored"
((survived == 0 && untested == 0))
