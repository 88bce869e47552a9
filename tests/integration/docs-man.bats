#!/usr/bin/env bats
# docs-man.bats: the manual pages are clean mdoc, installed, and cover every
# program the build installs and every environment variable the code reads
# (and no variable it does not).
#
# Lint level: every mandoc message of level STYLE or above fails the test,
# with one exception: "referenced manual not found" for pages no Debian
# package ships (headscale(1), tailscale(1), tailscaled(8)). The pages are
# looked up in a private manual tree holding ours plus the system's, so a
# reference to one of our own pages that does not exist is still caught.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

setup_file() {
	: "${TOP_SRCDIR:?}" "${TOP_BUILDDIR:?}"
	export MAN_SRC
	# The pages as the build generated them from docs/man/*.8.in;
	# resolved, to compare with the paths man prints.
	MAN_SRC=$(realpath "$TOP_BUILDDIR/docs/man")
	export MAN_TREE="$BATS_FILE_TMPDIR/man"
	mkdir -p "$MAN_TREE/man1" "$MAN_TREE/man8"
	local page
	for page in "$MAN_SRC"/*.[18]; do
		ln -s "$page" "$MAN_TREE/man${page##*.}/"
	done
}

# PAGES: every page the build generated.
setup() {
	PAGES=("$MAN_SRC"/*.[18])
}

# installed_programs: the basename of every program or script the build
# installs (any *_PROGRAMS or *_SCRIPTS but noinst_ and check_), read from
# the Makemodule.am fragments; programs installed under a libexec
# directory are prefixed "sovran-provisioner-", the name their page
# carries. Variable references ($(foo)) are not followed; list programs
# by name.
installed_programs() {
	find "$TOP_SRCDIR" -name Makemodule.am -not -path '*/.git/*' -exec cat {} + |
	    awk '
		# Join continuation lines first.
		{ line = line $0 }
		/\\$/ { sub(/\\$/, "", line); next }
		{ print line; line = "" }' |
	    awk '{ var = $1; sub(/^(dist_|nodist_)/, "", var) }
		var ~ /^[a-z0-9]+_(PROGRAMS|SCRIPTS)$/ && var !~ /^(noinst|check)_/ &&
		    ($2 == "=" || $2 == "+=") {
		for (i = 3; i <= NF; i++) {
			n = $i; sub(/.*\//, "", n)
			if (n ~ /^\$/) continue
			if (var ~ /libexec/) n = "sovran-provisioner-" n
			print n
		}
	    }' | sort -u
}

@test "every page is lint-clean at level style" {
	local out bad
	out=$(MANPATH="$MAN_TREE:" mandoc -Tlint -W style "${PAGES[@]}" 2>&1) || true
	# Only lint messages count; mandoc's notes about stale system
	# databases are not about our pages.
	bad=$(grep -E ': (STYLE|WARNING|ERROR|UNSUPP|BADARG|SYSERR): ' <<<"$out" |
	    grep -vE 'referenced manual not found: Xr (headscale 1|tailscale 1|tailscaled 8)( |$)' || true)
	if [[ -n $bad ]]; then
		fail "mandoc -Tlint:"$'\n'"$bad"
	fi
}

@test "every page is lint-clean at level warning with mandoc's own verdict" {
	run -0 mandoc -Tlint -W warning "${PAGES[@]}"
	assert_output ''
}

@test "each page's title and section match its file name" {
	local page name sect dt
	for page in "${PAGES[@]}"; do
		name=$(basename "$page")
		sect=${name##*.}
		name=${name%.*}
		dt=$(awk '$1 == ".Dt" { print $2, $3; exit }' "$page")
		[[ $dt == "$(tr '[:lower:]' '[:upper:]' <<<"$name") $sect" ]] ||
		    fail "$page: .Dt is '$dt'"
		grep -qx ".Nm $name" "$page" || fail "$page: NAME is not .Nm $name"
	done
}

@test "each page has the sections an operator looks for" {
	local page sec
	for page in "${PAGES[@]}"; do
		for sec in NAME SYNOPSIS DESCRIPTION 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
			grep -qx ".Sh $sec" "$page" || fail "$page: no $sec section"
		done
	done
}

@test "every template is built, with the configured paths and a footer" {
	local in page env
	for in in "$TOP_SRCDIR"/docs/man/*.in; do
		page="$MAN_SRC/$(basename "$in" .in)"
		[[ -f $page ]] || fail "$in was not built"
		! grep -n '@[A-Za-z_]*@' "$page" || fail "$page: left unsubstituted"
		grep -qx '\.Os sovran-provisioner [0-9][0-9.]*' "$page" ||
		    fail "$page: .Os is '$(grep '^\.Os' "$page")'"
	done
	# The environment file the units read is the one the pages name.
	env=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' \
	    "$TOP_BUILDDIR/systemd/sovran-provisioner-bootstrap.service")
	[[ -n $env ]] || fail "no EnvironmentFile in the bootstrap unit"
	grep -q "^\.Pa $env" "$MAN_SRC/sovran-provisioner.8" ||
	    fail "sovran-provisioner.8 does not name $env"
	grep -q "^\.Pa $env" "$MAN_SRC/sovran-provisioner-backup.8" ||
	    fail "sovran-provisioner-backup.8 does not name $env"
}

@test "every page is installed by make install" {
	local page
	for page in "${PAGES[@]}"; do
		grep -qE "docs/man/$(basename "$page")( |\\\\|$)" \
		    "$TOP_SRCDIR/docs/Makemodule.am" ||
		    fail "$page is not in docs/Makemodule.am"
	done
}

@test "every installed program has a page man can find" {
	local prog found
	local -a progs
	mapfile -t progs < <(installed_programs)
	((${#progs[@]} > 0)) || fail "no installed programs found"
	for prog in "${progs[@]}"; do
		found=$(MANPATH="$MAN_TREE" man -w "$prog" 2>/dev/null) ||
		    fail "no manual page for $prog"
		# man resolves the tree's symbolic links to docs/man.
		[[ $found == "$MAN_SRC"/* || $found == "$MAN_TREE"/* ]] ||
		    fail "$prog: man found $found"
	done
}

@test "every environment variable a page documents is read by the code" {
	# The code: the library, the programs, the bootstrap and the client
	# scripts; not the documentation, the tests or example files.
	local -a code=("$TOP_SRCDIR"/lib "$TOP_SRCDIR"/cgi-bin \
	    "$TOP_SRCDIR"/bootstrap "$TOP_SRCDIR"/client "$TOP_BUILDDIR"/backup)
	local var
	local -a vars
	mapfile -t vars < <(awk '$1 == ".It" && $2 == "Ev" {
		for (i = 3; i <= NF; i++) if ($i ~ /^[A-Z][A-Z0-9_]+$/) print $i }' \
	    "${PAGES[@]}" | sort -u)
	((${#vars[@]} > 0)) || fail "no documented variables found"
	for var in "${vars[@]}"; do
		grep -rqw --include='*.[ch]' --include='sovran-*' \
		    --include='deploy-*' --exclude='*.in' -- "$var" "${code[@]}" ||
		    fail "$var is documented but read nowhere"
	done
}

@test "every environment variable the code reads is documented" {
	local var
	local -a vars
	mapfile -t vars < <(
		{
			grep -rhoE '(getenv|env_or)\("[A-Z][A-Z0-9_]+"' \
			    "$TOP_SRCDIR"/lib "$TOP_SRCDIR"/cgi-bin \
			    "$TOP_SRCDIR"/bootstrap
			# conf.c names its variables in a table.
			grep -hoE '"[A-Z][A-Z0-9]*_[A-Z0-9_]+"' "$TOP_SRCDIR"/lib/conf.c
			grep -hoE '\bSOVRAN_[A-Z0-9_]+' "$TOP_SRCDIR"/client/sovran-auto-provision \
			    "$TOP_SRCDIR"/client/deploy-tailscale-connect
			grep -hoE '\$\{[A-Z][A-Z0-9_]+:-' "$TOP_SRCDIR"/backup/*.in
		} | grep -oE '[A-Z][A-Z0-9_]+' | grep -vxE 'getenv|env_or' | sort -u)
	((${#vars[@]} >= 15)) || fail "only ${#vars[@]} variables found in the code"
	for var in "${vars[@]}"; do
		grep -qE "^\.(It )?Ev $var( |$)" "${PAGES[@]}" ||
		    fail "$var is read by the code but no page documents it"
	done
}
