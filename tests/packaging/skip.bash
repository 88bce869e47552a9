# skip.bash: skipping a whole suite from setup_file, for the packaging and
# system suites. bats 1.8 reports a skip in setup_file as a failure (and
# then fails teardown_file too), so setup_file records the reason with
# `cannot REASON; return 0` and every test skips with it.

# cannot REASON: from setup_file, before `return 0`.
cannot() {
	echo "$1" >"$BATS_FILE_TMPDIR/cannot"
}

# setup: each test skips once setup_file gave up.
setup() {
	if [ -f "$BATS_FILE_TMPDIR/cannot" ]; then
		skip "$(cat "$BATS_FILE_TMPDIR/cannot")"
	fi
}
