#!/usr/bin/env bats
# docs-commands.bats: the commands the documentation shows really work.
#
# Every `headscale ...` command in docs/*.md, README and the manual pages
# is extracted, its placeholders are given concrete values, and it is run
# against the headscale 0.28 stand-in, which rejects the flags older
# releases took. Commands from code blocks (and every `$(headscale ...)`
# inside any command) must exit 0. Inline mentions in prose may leave out
# a required flag, but must not use a wrong one.
#
# Every curl example must name a route that exists (the provisioning
# routes are read from caddy/Caddyfile), and the ones aimed at the
# provisioning API are run, with --fail, against a real stack. Every
# systemd unit the documentation names must be one this project ships, or
# one of the few it runs beside. The token rotation procedure in the guide
# is run against the stack and must take effect without a restart.
#
# Placeholders a command may use, and what they become:
#	<registration-id>	a pending 24-character registration id
#	<node-id>		the id of an existing (offline) node
#	<hostname>		that node's name
#	<key-id>		the id of an existing pre-auth key
#	<user-id>		the id of the user sovran-deploy
#	<KEY_EXPIRY>		1h
# Any other <...> fails the test: add it here when a page needs it.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helper

# Documentation files, relative to the source tree.
doc_files() {
	local f
	for f in "$TOP_SRCDIR"/docs/*.md "$TOP_SRCDIR"/README \
	    "$TOP_BUILDDIR"/docs/man/*.[18]; do
		[[ -f $f ]] && printf '%s\n' "$f"
	done
}

# extract_md FILE...: "file:line<TAB>kind<TAB>text" for every line of a
# fenced code block (kind "block"; lines ending in \ or | are joined with
# the next), every line of an indented code block (kind "block"), and
# every inline code span (kind "inline"; spans may cross line breaks
# inside a paragraph).
extract_md() {
	awk '
		function flush_para() {
			s = para
			while (match(s, /`[^`]+`/)) {
				print pfile ":" pline "\tinline\t" substr(s, RSTART + 1, RLENGTH - 2)
				s = substr(s, RSTART + RLENGTH)
			}
			para = ""
		}
		FNR == 1 { flush_para(); inblock = 0; cont = ""; blank = 1; indented = 0 }
		/^[ \t]*```/ { flush_para(); inblock = !inblock; cont = ""; next }
		inblock {
			line = $0
			sub(/^[ \t]+/, "", line)
			if (cont == "") start = FNR
			else line = cont " " line
			if (line ~ /\\$/) { sub(/[ \t]*\\$/, "", line); cont = line; next }
			if (line ~ /\|$/) { cont = line; next }
			cont = ""
			print FILENAME ":" start "\tblock\t" line
			next
		}
		# An indented code block: four spaces or a tab, after a blank
		# line (it cannot interrupt a paragraph).
		/^(    |\t)/ && (blank || indented) {
			line = $0
			sub(/^[ \t]+/, "", line)
			print FILENAME ":" FNR "\tblock\t" line
			indented = 1; blank = 0
			next
		}
		/^[ \t]*$/ { flush_para(); blank = 1; next }
		{
			blank = 0; indented = 0
			if (para == "") { pfile = FILENAME; pline = FNR; para = $0 }
			else para = para " " $0
		}
		END { flush_para() }' "$@"
}

# extract_mdoc FILE...: the same for manual pages: .Dl lines and the lines
# of .Bd -literal displays are "block", the arguments of .Ql and .Ic are
# "inline". Escapes are undone so the text is what a reader types.
extract_mdoc() {
	awk '
		function unescape(s) {
			gsub(/\\e/, "\\", s); gsub(/\\-/, "-", s); gsub(/\\&/, "", s)
			gsub(/\\\(aq/, "\047", s); gsub(/\\\(dq/, "\"", s)
			return s
		}
		function emit(kind, start, text) {
			print FILENAME ":" start "\t" kind "\t" unescape(text)
		}
		FNR == 1 { lit = 0; cont = "" }
		/^\.Bd[ \t].*-literal/ { lit = 1; cont = ""; next }
		/^\.Ed/ { lit = 0; next }
		lit && /^\./ { next }
		lit {
			line = $0
			sub(/^[ \t]+/, "", line)
			if (cont == "") start = FNR
			else line = cont " " line
			if (line ~ /\\e$/) { sub(/[ \t]*\\e$/, "", line); cont = line; next }
			if (line ~ /\|$/) { cont = line; next }
			cont = ""
			emit("block", start, line)
			next
		}
		/^\.Dl[ \t]/ { emit("block", FNR, substr($0, 5)); next }
		/^\.(Ql|Ic)[ \t]/ {
			text = substr($0, 5)
			# Trailing punctuation is a separate argument in mdoc.
			sub(/([ \t]+[.,:;)])+[ \t]*$/, "", text)
			emit("inline", FNR, text)
		}' "$@"
}

# extract_all: every piece of command text in the documentation.
extract_all() {
	local -a md=() man=()
	local f
	while IFS= read -r f; do
		case $f in
		*.[18]) man+=("$f") ;;
		*) md+=("$f") ;;
		esac
	done < <(doc_files)
	((${#md[@]} == 0)) || extract_md "${md[@]}"
	((${#man[@]} == 0)) || extract_mdoc "${man[@]}"
}

# strip_prompt TEXT: without a leading "sudo ".
strip_prompt() {
	local t=$1
	t=${t#sudo }
	printf '%s\n' "$t"
}

# inner_headscale TEXT: each "$(headscale ...)" inside TEXT, one per line,
# found by matching parentheses.
inner_headscale() {
	local s=$1 i j depth c
	for ((i = 0; i < ${#s}; i++)); do
		# shellcheck disable=SC2016 # a literal "$(", not an expansion
		[[ ${s:i:12} == '$(headscale ' ]] || continue
		depth=0
		for ((j = i + 1; j < ${#s}; j++)); do
			c=${s:j:1}
			if [[ $c == '(' ]]; then
				depth=$((depth + 1))
			elif [[ $c == ')' ]]; then
				depth=$((depth - 1))
				if ((depth == 0)); then
					printf '%s\n' "${s:i+2:j-i-2}"
					break
				fi
			fi
		done
	done
}

# substitute TEXT: TEXT with every placeholder replaced (see the top of
# this file); fails, naming the placeholder, on an unknown one.
substitute() {
	local t=$1 ph
	t=${t//<registration-id>/$FIX_REGID}
	t=${t//<node-id>/$FIX_NODE_ID}
	t=${t//<hostname>/$FIX_NODE_NAME}
	t=${t//<key-id>/$FIX_KEY_ID}
	t=${t//<user-id>/$FIX_USER_ID}
	t=${t//<KEY_EXPIRY>/1h}
	ph=$(grep -oE '<[A-Za-z][A-Za-z0-9_-]*>' <<<"$t" | head -n 1 || true)
	if [[ -n $ph ]]; then
		echo "unknown placeholder $ph"
		return 1
	fi
	printf '%s\n' "$t"
}

# hs_fixture DIR: a stand-in state with the users sovran-deploy (id 1) and
# admin, a pre-auth key, an offline node owned by sovran-deploy, and a
# pending registration; exports the FIX_* values the placeholders take.
hs_fixture() {
	local dir=$1 key
	mkdir -p "$dir/bin"
	ln -sf "$TOP_BUILDDIR/tests/standin/headscale" "$dir/bin/headscale"
	printf 'server_url: https://hs.example.net\n' >"$dir/config.yaml"
	export HEADSCALE_CONFIG="$dir/config.yaml"
	headscale_fx users create sovran-deploy -o json >/dev/null
	headscale_fx users create admin -o json >/dev/null
	FIX_USER_ID=$(headscale_fx users list -o json |
	    jq -r '.[] | select(.name == "sovran-deploy") | .id')
	key=$(headscale_fx preauthkeys create -u "$FIX_USER_ID" -e 1h -o json)
	FIX_KEY_ID=$(jq -r .id <<<"$key")
	standin_add_node "$dir" "$(jq -r .key <<<"$key")" sovran-deploy-0123456789abcdef
	FIX_NODE_ID=$(headscale_fx nodes list -o json | jq -r '.[0].id')
	FIX_NODE_NAME=$(headscale_fx nodes list -o json | jq -r '.[0].name')
	FIX_REGID=$(standin_pending_registration "$dir")
	export FIX_USER_ID FIX_KEY_ID FIX_NODE_ID FIX_NODE_NAME FIX_REGID
	[[ $FIX_USER_ID =~ ^[0-9]+$ && $FIX_KEY_ID =~ ^[0-9]+$ &&
	    $FIX_NODE_ID =~ ^[0-9]+$ && ${#FIX_REGID} == 24 ]]
}

headscale_fx() {
	"$TOP_BUILDDIR/tests/standin/headscale" "$@"
}

# tailscale_fx DIR ARGS...: the tailscale stand-in as a client of the
# headscale stand-in whose state is in DIR/standin.
tailscale_fx() {
	local dir=$1
	shift
	TAILSCALE_STANDIN_DIR="$dir/tailscale.$RANDOM" \
	    HEADSCALE_STANDIN_STATE="$dir/standin" \
	    "$TOP_SRCDIR/tests/standin/tailscale" "$@"
}

# standin_add_node DIR KEY NAME: a machine joins with KEY, as NAME, and
# goes offline again.
standin_add_node() {
	local ts=("$TOP_SRCDIR/tests/standin/tailscale")
	TAILSCALE_STANDIN_DIR="$1/tailscale.$3" HEADSCALE_STANDIN_STATE="$1/standin" \
	    "${ts[@]}" up --login-server=https://hs.example.net \
	    --auth-key="$2" --hostname="$3" >/dev/null
	TAILSCALE_STANDIN_DIR="$1/tailscale.$3" HEADSCALE_STANDIN_STATE="$1/standin" \
	    "${ts[@]}" down
}

# standin_pending_registration DIR: a machine asks to join without a key
# and gives up waiting; prints the registration id it was given, which
# stays in the server's registration cache.
standin_pending_registration() {
	tailscale_fx "$1" up --login-server=https://hs.example.net \
	    --hostname=workstation --timeout=1s 2>&1 |
	    sed -n 's#.*/register/\([A-Za-z0-9]*\)$#\1#p'
}

# run_hs TEXT: runs TEXT with bash in a fresh copy of the fixture, the
# stand-in first on PATH as "headscale"; sets RUN_RC, RUN_OUT, RUN_ERR.
run_hs() {
	local dir
	dir=$(mktemp -d "$BATS_FILE_TMPDIR/run.XXXXXX")
	cp -a "$FIXTURE/." "$dir/"
	RUN_RC=0
	(cd "$dir" && env -i PATH="$dir/bin:/usr/bin:/bin" HOME="$dir" \
	    HEADSCALE_CONFIG="$dir/config.yaml" \
	    timeout 30 bash -o pipefail -c "$1") >"$dir/out" 2>"$dir/err" ||
	    RUN_RC=$?
	RUN_OUT=$(cat "$dir/out")
	RUN_ERR=$(cat "$dir/err")
}

# check_hs KIND TEXT: one documented headscale command; prints a line
# describing the failure, or nothing.
check_hs() {
	local kind=$1 cmd
	if ! cmd=$(substitute "$2"); then
		printf '%s\n' "$cmd"
		return
	fi
	run_hs "$cmd"
	if ((RUN_RC == 0)); then
		# A documented pipeline (jq picking a value, xargs acting on
		# what was picked) must find something in the fixture, or it
		# proved nothing.
		if [[ $cmd == *'|'* && ( -z $RUN_OUT || $RUN_OUT == null ) ]]; then
			echo "printed nothing"
		fi
		return
	fi
	if [[ $kind == inline ]] &&
	    grep -qE 'required flag\(s\) .* not set|missing (--[a-z]+ )?parameters?' <<<"$RUN_ERR"; then
		return
	fi
	printf 'exit %s: %s\n' "$RUN_RC" "$(head -n 3 <<<"$RUN_ERR" | tr '\n' ' ')"
}

setup_file() {
	: "${TOP_SRCDIR:?}" "${TOP_BUILDDIR:?}"
	export FIXTURE="$BATS_FILE_TMPDIR/fixture"
	extract_all >"$BATS_FILE_TMPDIR/extracted"
	hs_fixture "$FIXTURE"
	# One stack for the curl examples and the token rotation, which
	# runs last because it changes the token.
	stack_start
}

@test "the documentation yields the commands this test checks" {
	# shellcheck disable=SC2016 # awk's $3, not the shell's
	run -0 awk -F '\t' '{ t = $3; sub(/^sudo /, "", t) } t ~ /^headscale / { n++ }
	    END { print n + 0 }' "$BATS_FILE_TMPDIR/extracted"
	# The guide alone shows well over ten; far fewer means the
	# extraction broke, not that the documentation got shorter.
	((output >= 15)) || fail "only $output headscale commands found"
}

@test "the runner rejects what headscale 0.28 rejects" {
	local bad why
	for bad in 'headscale preauthkeys list --user sovran-deploy' \
	    'headscale nodes register -u 1 --key mkey:0123456789abcdef' \
	    'headscale preauthkeys expire -u 1 --key hskey-auth-x' \
	    'headscale preauthkeys create --user sovran-deploy -e 1h -o json' \
	    'headscale nodes register --user admin --key <mystery>'; do
		for kind in block inline; do
			why=$(check_hs "$kind" "$bad")
			[[ -n $why ]] || fail "accepted as $kind: $bad"
		done
	done
}

@test "every documented headscale command works with headscale 0.28" {
	local where kind text cmd why failures='' n=0
	while IFS=$'\t' read -r where kind text; do
		cmd=$(strip_prompt "$text")
		if [[ $cmd == 'headscale '* ]]; then
			why=$(check_hs "$kind" "$cmd")
			n=$((n + 1))
			# What was checked, in the log of a failing run.
			echo "# $kind $where: $cmd${why:+ => $why}"
			[[ -z $why ]] || failures+="$where: $cmd"$'\n'"    $why"$'\n'
		fi
		while IFS= read -r cmd; do
			[[ -n $cmd ]] || continue
			why=$(check_hs block "$cmd")
			n=$((n + 1))
			[[ -z $why ]] || failures+="$where: \$($cmd)"$'\n'"    $why"$'\n'
		done < <(inner_headscale "$text")
	done <"$BATS_FILE_TMPDIR/extracted"
	((n > 0)) || fail "no commands checked"
	[[ -z $failures ]] || fail "$failures"
}

# routes: the provisioning API's paths, as Caddy routes them.
routes() {
	awk '$1 == "handle" && $2 ~ /^\// { print $2 }
	    $1 ~ /^@/ && $2 == "path" { for (i = 3; i <= NF; i++) print $i }' \
	    "$TOP_SRCDIR/caddy/Caddyfile" | sort -u
}

# curl_commands: "where<TAB>command" for every documented curl command,
# including those that get the token from printf on stdin (--config -).
curl_commands() {
	awk -F '\t' '{ t = $3; sub(/^sudo /, "", t) }
	    t ~ /^curl / || t ~ /^printf [^|]*\| *curl / { print $1 "\t" t }' \
	    "$BATS_FILE_TMPDIR/extracted"
}

@test "every curl example targets an existing endpoint" {
	local where cmd url host path failures='' n=0
	local -a known
	mapfile -t known < <(routes)
	((${#known[@]} >= 3)) || fail "routes not found in caddy/Caddyfile"
	while IFS=$'\t' read -r where cmd; do
		while IFS= read -r url; do
			n=$((n + 1))
			host=${url#*://}
			host=${host%%/*}
			path=/${url#*://*/}
			[[ $url == *://*/* ]] || path=/
			path=${path%%\?*}
			if [[ $host == hs.* ]]; then
				# Headscale's own health check.
				[[ $path == /health ]] ||
				    failures+="$where: $url is not a Headscale path"$'\n'
			elif ! printf '%s\n' "${known[@]}" | grep -qxF -- "$path"; then
				failures+="$where: $url: no such route (${known[*]})"$'\n'
			fi
		done < <(grep -oE 'https?://[^ "'\'')]+' <<<"$cmd")
	done < <(curl_commands)
	((n >= 3)) || fail "only $n curl URLs found"
	[[ -z $failures ]] || fail "$failures"
}

@test "the curl examples for the provisioning API succeed against a stack" {
	local where cmd live n=0 failures='' rc out
	cp "$STACK_TOKEN_FILE" "$BATS_FILE_TMPDIR/enroll-token"
	while IFS=$'\t' read -r where cmd; do
		[[ $cmd =~ https?://(prov\.example\.net|127\.0\.0\.1:[0-9]+) ]] || continue
		live=$(sed -E \
		    -e "s#https?://(prov\\.example\\.net|127\\.0\\.0\\.1:[0-9]+)#$STACK_URL#g" \
		    -e "s#[^ \"()]*enroll-token#$STACK_TOKEN_FILE#g" \
		    -e "s#[^ \"()]*admin-token#$STACK_ADMIN_TOKEN_FILE#g" \
		    -e 's#(^|\| *)curl #\1curl --fail #' <<<"$cmd")
		n=$((n + 1))
		rc=0
		out=$(cd "$BATS_FILE_TMPDIR" && timeout 30 bash -o pipefail -c "$live" 2>&1) || rc=$?
		((rc == 0)) || failures+="$where: $cmd"$'\n'"    exit $rc: ${out:0:300}"$'\n'
	done < <(curl_commands)
	((n >= 3)) || fail "only $n curl examples ran"
	[[ -z $failures ]] || fail "$failures"
}

# shipped_units: every unit file name this project installs or generates.
shipped_units() {
	{
		find "$TOP_SRCDIR" -name Makemodule.am -not -path '*/.git/*' -exec cat {} + |
		    grep -oE '[a-z0-9-]+\.(service|socket|timer|target)\b'
		find "$TOP_SRCDIR/systemd" "$TOP_SRCDIR/client" -type f \
		    -name '*.service*' -o -type f -name '*.socket*' 2>/dev/null |
		    sed -e 's#.*/##' -e 's#\.in$##'
	} | sort -u
}

@test "every unit the documentation names exists" {
	# Units of the software this project runs beside.
	local -a outside=(headscale.service caddy.service tailscaled.service
	    nftables.service sockets.target multi-user.target
	    network-online.target)
	local -a ours named
	local unit failures=
	mapfile -t ours < <(shipped_units)
	mapfile -t named < <(
		awk -F '\t' '{ print $3 }' "$BATS_FILE_TMPDIR/extracted" |
		    grep -oE '[a-z0-9.@-]+\.(service|socket|timer|target)\b'
		# journalctl -u NAME without a suffix means NAME.service.
		awk -F '\t' '{ print $3 }' "$BATS_FILE_TMPDIR/extracted" |
		    grep -oE 'journalctl( -[a-z]+)* -u [a-z0-9-]+( |$)' |
		    awk '{ print $NF ".service" }'
		# Prose and tables too: unit names outside code count.
		doc_files | xargs grep -ohE '\b(sovran|deploy)-[a-z0-9-]+\.(service|socket)\b'
	)
	((${#named[@]} >= 5)) || fail "only ${#named[@]} unit names found"
	for unit in $(printf '%s\n' "${named[@]}" | sort -u); do
		if printf '%s\n' "${ours[@]}" "${outside[@]}" | grep -qxF -- "$unit"; then
			continue
		fi
		failures+="$unit is not shipped"$'\n'
	done
	[[ -z $failures ]] || fail "$failures"
}

@test "the token rotation procedure takes effect without a restart" {
	local block
	# The first shell block after the guide's rotation heading.
	block=$(awk '/^## Rotating the enrollment token/ { want = 1; next }
	    want && /^```sh/ { inb = 1; next }
	    inb && /^```/ { exit }
	    inb { print }' "$TOP_SRCDIR/docs/remote-deploy-headscale.md")
	[[ -n $block ]] || fail "no rotation commands found in the guide"
	local old new
	old=$(cat "$STACK_TOKEN_FILE")
	# /machines tells the enrollment token (403) from no token (401).
	http GET /machines -H @"$(auth_file "$old")"
	assert_equal "$HTTP_STATUS" 403
	# Same commands, on the stack's data directory, owned by whoever runs
	# the stack instead of the service user.
	block=$(sed -e "s#/var/lib/sovran-provisioner#$STACK_DATA_DIR#g" \
	    -e "s#-o sovran-provisioner -g sovran-provisioner#-o $(id -un) -g $(id -gn)#g" <<<"$block")
	run -0 bash -euo pipefail -c "$block"
	new=$(cat "$STACK_TOKEN_FILE")
	[[ $new =~ ^[0-9a-f]{64}$ ]] || fail "new token is not 64 hex digits: $new"
	[[ $(stat -c %a "$STACK_TOKEN_FILE") == 600 ]] || fail "new token file is not 0600"
	[[ ! -e $STACK_TOKEN_FILE.new ]] || fail "temporary file left behind"
	http GET /machines -H @"$(auth_file "$old")"
	assert_equal "$HTTP_STATUS" 401
	http GET /machines -H @"$(auth_file "$new")"
	assert_equal "$HTTP_STATUS" 403
}

teardown_file() {
	stack_stop
}
