# shellcheck shell=bash
#
# helper.bash: starts and stops a provisioning stack for the bats suites,
# and talks to it.
#
# A stack lives in one directory: the headscale stand-in's state, a data
# directory holding the enrollment token and the database, the three
# programs each on its own unix socket, and Caddy (caddy/Caddyfile.local) on
# a free loopback port. Every process is started here, recorded by PID under
# the stack directory, and stopped by that PID, so a suite never touches
# processes it did not start. Suites call stack_start in setup_file and
# stack_stop in teardown_file; bats runs teardown_file even when setup_file
# or a test fails.
#
# Functions (their names are used by other suites; keep them stable):
#	stack_init [VAR=value...]	directories, token, stand-in users; no
#					processes (enough for the cgi helper)
#	stack_start [--workers N] [VAR=value...]
#					stack_init, the programs and Caddy
#	stack_stop			stop everything stack_start started
#	stack_restart_programs		restart the three programs, same settings
#	start_program NAME		start one program (after stack_init)
#	stop_program NAME		SIGTERM one program, wait for its exit
#	hs_fault WORD [N] / hs_fault_clear / hs_calls [SUBCOMMAND]
#	http METHOD PATH [--from ADDR] [curl args...]
#					sets HTTP_STATUS, HTTP_BODY, HTTP_HEADERS
#	header NAME			a response header of the last http call
#	register HOSTNAME MAC [TOKEN] [http args...]
#					POST /register; an empty TOKEN sends
#					no Authorization header
#	register_body HOSTNAME MAC	the JSON a client posts
#	cgi NAME METHOD [BODY|@FILE] [VAR=value...]
#					run a program once as plain CGI; sets
#					CGI_RC, CGI_STATUS, CGI_HEADERS,
#					CGI_BODY, CGI_STDERR
#	cgi_header NAME			a header of the last cgi run
#	assert_json_error [BODY]	HTTP_BODY (or BODY) is exactly
#					{"error": "<text>"}
#	assert_no_secrets FILE...	no token, pre-auth key or body in them
#	client_bin DIR TOOL...		a PATH dir with only TOOLs and the
#					tailscale stand-in
#	wait_until SECONDS CMD...	poll CMD (status 2 means give up)
#	lines_exceed FILE N, pid_alive PID, free_port, new_token
#
# Call http, register and cgi directly, not through bats' run: they set
# variables for the test.
#
# Exported for the tests: STACK_DIR, STACK_DATA_DIR, STACK_TOKEN,
# STACK_TOKEN_FILE, STACK_ADMIN_TOKEN, STACK_ADMIN_TOKEN_FILE,
# STACK_ADMIN_HEADER (that token as a header file), STACK_DB,
# STACK_SOCK_DIR, STACK_LOGS, STACK_HS_CONFIG,
# STACK_HS_STATE (the stand-in's standin/ directory), STACK_PORT, STACK_URL.
#
# PROV_TEST_WRAPPER, when set (e.g. "valgrind -q --error-exitcode=99"), is
# put in front of every program; ASAN_OPTIONS, UBSAN_OPTIONS and
# LSAN_OPTIONS are passed through to them.

bats_load_library bats-support
bats_load_library bats-assert

: "${TOP_SRCDIR:?TOP_SRCDIR must name the source tree}"
: "${TOP_BUILDDIR:?TOP_BUILDDIR must name the build tree}"
: "${CADDY:=caddy}"

PROV_PROGRAMS=(health register machines metrics)
HS_STANDIN="$TOP_BUILDDIR/tests/standin/headscale"
export HEADSCALE_TEST_URL=https://hs.example.test

# Seconds to wait for anything to come up or go down. Generous: the
# machine running the suite may be busy with other builds.
STACK_WAIT=${STACK_WAIT:-30}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it
# succeeds; fails on timeout, or at once when COMMAND returns 2 ("never").
wait_until() {
	local deadline=$((SECONDS + $1)) rc
	shift
	while :; do
		rc=0
		"$@" || rc=$?
		case $rc in
		0) return 0 ;;
		2) return 1 ;;
		esac
		if ((SECONDS >= deadline)); then
			echo "timed out waiting for: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}

# lines_exceed FILE N: FILE has more than N lines (for wait_until, since
# log lines may land just after the response).
lines_exceed() {
	(($(wc -l <"$1") > $2))
}

# pid_alive PID: true while PID exists and is not a zombie.
pid_alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $state != Z* ]]
}

# pid_stop PID: SIGTERM, wait, then SIGKILL to PID's process group (each
# process started here leads its own group, so workers and headscale
# children go with it).
pid_stop() {
	local pid=$1
	pid_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_until "$STACK_WAIT" eval "! pid_alive $pid" 2>/dev/null; then
		echo "pid $pid ignored SIGTERM; killing it" >&2
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		wait_until 5 eval "! pid_alive $pid" || true
	fi
	# Reap it when it is our child; harmless otherwise.
	wait "$pid" 2>/dev/null || true
}

# stack_init [VAR=value...]: lays out the stack directory. Extra VAR=value
# pairs override the programs' environment.
stack_init() {
	export STACK_DIR="${BATS_FILE_TMPDIR:?}/stack"
	export STACK_DATA_DIR="$STACK_DIR/data"
	export STACK_TOKEN_FILE="$STACK_DATA_DIR/enroll-token"
	export STACK_DB="$STACK_DATA_DIR/provisioner.db"
	export STACK_SOCK_DIR="$STACK_DIR/sock"
	export STACK_LOGS="$STACK_DIR/logs"
	export STACK_HS_CONFIG="$STACK_DIR/headscale/config.yaml"
	export STACK_HS_STATE="$STACK_DIR/headscale/standin"
	mkdir -p "$STACK_DIR/pids" "$STACK_DATA_DIR" "$STACK_SOCK_DIR" \
	    "$STACK_LOGS" "$STACK_HS_STATE" "$STACK_DIR/caddy"
	chmod 0700 "$STACK_DATA_DIR"

	# sun_path holds 108 bytes; fail clearly rather than inside the program.
	if ((${#STACK_SOCK_DIR} > 90)); then
		echo "socket directory path too long: $STACK_SOCK_DIR" >&2
		return 1
	fi

	export STACK_TOKEN
	STACK_TOKEN=$(new_token)
	(umask 077 && printf '%s\n' "$STACK_TOKEN" >"$STACK_TOKEN_FILE")
	# The operator's token, for /machines and /metrics.
	export STACK_ADMIN_TOKEN STACK_ADMIN_TOKEN_FILE="$STACK_DATA_DIR/admin-token"
	STACK_ADMIN_TOKEN=$(new_token)
	(umask 077 && printf '%s\n' "$STACK_ADMIN_TOKEN" >"$STACK_ADMIN_TOKEN_FILE")
	# A header file for curl -H @file, so the token is on no command line.
	export STACK_ADMIN_HEADER="$STACK_DIR/admin.hdr"
	(umask 077 && printf 'Authorization: Bearer %s\n' "$STACK_ADMIN_TOKEN" \
	    >"$STACK_ADMIN_HEADER")

	# The stand-in keeps its state beside the config file it is given.
	printf 'server_url: %s\n' "$HEADSCALE_TEST_URL" >"$STACK_HS_CONFIG"
	local user
	for user in sovran-deploy admin; do
		HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" users create \
		    "$user" -o json >/dev/null
	done
	# Tests count calls made by the programs, not by this setup.
	rm -f "$STACK_HS_STATE/calls.log"

	# The programs' environment, one VAR=value per line; a later value for
	# the same variable replaces the earlier one.
	{
		echo "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
		echo "PROVISIONER_DATA_DIR=$STACK_DATA_DIR"
		echo "HEADSCALE_BIN=$HS_STANDIN"
		echo "HEADSCALE_CONFIG=$STACK_HS_CONFIG"
		echo "HEADSCALE_URL=$HEADSCALE_TEST_URL"
		echo "RATE_LIMIT_MAX=1000"
		echo "RATE_LIMIT_WINDOW=60"
		echo "HEADSCALE_TIMEOUT=5"
		local v
		for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
			if [[ -n ${!v:-} ]]; then
				echo "$v=${!v}"
			fi
		done
		for v in "$@"; do
			echo "$v"
		done
	} | awk '{ n = substr($0, 1, index($0, "=") - 1)
		   if (!(n in v)) order[++k] = n; v[n] = $0 }
		 END { for (i = 1; i <= k; i++) print v[order[i]] }' \
	    >"$STACK_DIR/env"
}

# new_token: 64 random hex digits, like the bootstrap's.
new_token() {
	od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# _stack_env_array: the programs' environment into the array STACK_ENV.
_stack_env_array() {
	mapfile -t STACK_ENV <"$STACK_DIR/env"
}

# start_program NAME: starts cgi-bin/NAME on $STACK_SOCK_DIR/NAME.sock with
# the stack's environment and --workers from the stack settings, and waits
# for its socket.
start_program() {
	local name=$1 sock="$STACK_SOCK_DIR/$1.sock" pid
	local -a STACK_ENV wrapper=() workers=()
	_stack_env_array
	read -r -a wrapper <<<"${PROV_TEST_WRAPPER:-}"
	if [[ -s $STACK_DIR/workers ]]; then
		workers=(--workers "$(cat "$STACK_DIR/workers")")
	fi
	# setsid: its own process group, for pid_stop's last resort. fd 3 is
	# bats' output channel; a background process must not hold it.
	setsid env -i "${STACK_ENV[@]}" "${wrapper[@]}" \
	    "$TOP_BUILDDIR/cgi-bin/$name" --listen "$sock" "${workers[@]}" \
	    </dev/null >>"$STACK_LOGS/$name.log" 2>&1 3>&- &
	pid=$!
	echo "$pid" >"$STACK_DIR/pids/$name"
	if ! wait_until "$STACK_WAIT" _socket_up "$sock" "$pid"; then
		echo "$name did not come up; its log:" >&2
		cat "$STACK_LOGS/$name.log" >&2
		return 1
	fi
}

_socket_up() {
	pid_alive "$2" || return 2
	[[ -S $1 ]]
}

# stop_program NAME: SIGTERM the program started by start_program.
stop_program() {
	local pidfile="$STACK_DIR/pids/$1"
	[[ -s $pidfile ]] || return 0
	pid_stop "$(cat "$pidfile")"
	rm -f "$pidfile"
}

# free_port: a loopback TCP port nobody listens on (below Linux's
# ephemeral range, so outgoing connections do not take it meanwhile).
free_port() {
	local port tries
	for ((tries = 0; tries < 50; tries++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		if [[ -z $(ss -ltnH "sport = :$port") ]]; then
			echo "$port"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

# _caddy_owns_port PORT PID: the port answers and PID alone listens on it.
# Caddy sets SO_REUSEPORT, so a second server on the same port would not
# make ours fail; it would quietly take part of the traffic instead.
_caddy_owns_port() {
	local listeners
	listeners=$(ss -ltnpH "sport = :$1")
	[[ -n $listeners ]] || return 1
	! grep -v "pid=$2," <<<"$listeners" | grep -q .
}

_caddy_answers() {
	pid_alive "$2" || return 2
	[[ $(curl -s -o /dev/null -w '%{http_code}' \
	    "http://127.0.0.1:$1/caddy-ready" 2>/dev/null) == 404 ]]
}

# start_caddy: Caddy with Caddyfile.local (or $STACK_CADDYFILE) on a free
# port; retries on a collision with another server.
start_caddy() {
	local port pid tries
	for ((tries = 0; tries < 5; tries++)); do
		port=$(free_port) || return 1
		setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		    HOME="$STACK_DIR/caddy" \
		    XDG_CONFIG_HOME="$STACK_DIR/caddy/config" \
		    XDG_DATA_HOME="$STACK_DIR/caddy/data" \
		    PROVISIONER_HTTP_PORT="$port" \
		    PROVISIONER_SOCKET_DIR="$STACK_SOCK_DIR" \
		    CADDY_STATE_DIR="$STACK_DIR/caddy/state" \
		    CADDY_ACCESS_LOG="$STACK_LOGS/access.log" \
		    "$CADDY" run --adapter caddyfile \
		    --config "${STACK_CADDYFILE:-$TOP_SRCDIR/caddy/Caddyfile.local}" \
		    </dev/null >>"$STACK_LOGS/caddy.log" 2>&1 3>&- &
		pid=$!
		echo "$pid" >"$STACK_DIR/pids/caddy"
		if wait_until "$STACK_WAIT" _caddy_answers "$port" "$pid" &&
		    _caddy_owns_port "$port" "$pid"; then
			export STACK_PORT=$port
			export STACK_URL="http://127.0.0.1:$port"
			return 0
		fi
		echo "caddy on port $port failed or collided; retrying" >&2
		pid_stop "$pid"
		rm -f "$STACK_DIR/pids/caddy"
	done
	echo "caddy did not start; its log:" >&2
	cat "$STACK_LOGS/caddy.log" >&2
	return 1
}

# stack_start [--workers N] [VAR=value...]: the whole stack.
stack_start() {
	local nworkers=
	if [[ ${1:-} == --workers ]]; then
		nworkers=$2
		shift 2
	fi
	stack_init "$@"
	printf '%s' "$nworkers" >"$STACK_DIR/workers"
	local name
	for name in "${PROV_PROGRAMS[@]}"; do
		start_program "$name"
	done
	start_caddy
}

# stack_stop: stops, by PID, whatever stack_start started. Safe to call on
# a stack that never (fully) started.
stack_stop() {
	[[ -d ${STACK_DIR:-}/pids ]] || return 0
	local pidfile
	for pidfile in "$STACK_DIR"/pids/*; do
		[[ -s $pidfile ]] || continue
		pid_stop "$(cat "$pidfile")"
		rm -f "$pidfile"
	done
}

# stack_restart_programs: the three programs stopped and started again with
# the same settings (Caddy keeps running).
stack_restart_programs() {
	local name
	for name in "${PROV_PROGRAMS[@]}"; do
		stop_program "$name"
	done
	for name in "${PROV_PROGRAMS[@]}"; do
		start_program "$name"
	done
}

# hs_fault WORD [N]: every stand-in command misbehaves (see the stand-in
# contract in docs/design.md).
hs_fault() {
	printf '%s\n' "$*" >"$STACK_HS_STATE/fault"
}

hs_fault_clear() {
	rm -f "$STACK_HS_STATE"/fault "$STACK_HS_STATE"/fault.*
}

# hs_calls [SUBCOMMAND]: how many times the stand-in ran (with SUBCOMMAND,
# e.g. "preauthkeys", among its arguments).
hs_calls() {
	local log="$STACK_HS_STATE/calls.log"
	[[ -f $log ]] || {
		echo 0
		return
	}
	awk -v want="${1:-}" '
		want == "" { n++; next }
		{ for (i = 4; i <= NF; i++) if ($i == want) { n++; next } }
		END { print n + 0 }' "$log"
}

# http METHOD PATH [--from ADDR] [curl args...]: one request through
# Caddy; sets HTTP_STATUS, HTTP_BODY and HTTP_HEADERS. --from picks the
# client address (any 127.0.0.0/8 address works on Linux loopback).
http() {
	local method=$1 path=$2 out url
	shift 2
	local -a extra=()
	if [[ ${1:-} == --from ]]; then
		extra=(--interface "$2")
		shift 2
	fi
	out="${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/http"
	if [[ $method == HEAD ]]; then
		extra+=(--head)
	else
		extra+=(-X "$method")
	fi
	# The URL reaches curl in a config on a pipe, not as an argument: some
	# tests put the token in the query string.
	url="$STACK_URL$path"
	url=${url//\\/\\\\}
	HTTP_STATUS=$(curl -sS -o "$out.body" -D "$out.headers" \
	    -w '%{http_code}' "${extra[@]}" "$@" \
	    -K <(printf 'url = "%s"\n' "${url//\"/\\\"}"))
	HTTP_BODY=$(cat "$out.body")
	HTTP_HEADERS=$(tr -d '\r' <"$out.headers")
	# Shell variables, not exported: a long listing in the environment
	# would exceed the kernel's limit for one variable (128 KiB) and make
	# every later command fail with "Argument list too long".
	export HTTP_STATUS
}

# register_body HOSTNAME MAC: the JSON a client sends.
register_body() {
	jq -cn --arg h "$1" --arg m "$2" '{hostname: $h, mac: $m}'
}

# auth_file TOKEN [NAME [SCHEME]]: a new file, mode 0600, holding the
# header line "NAME: SCHEME TOKEN" (by default "Authorization: Bearer
# TOKEN"), for curl -H @FILE; prints its path. A token is never a command's
# argument, in the tests either: the process list shows arguments to
# everyone on the machine (tests/integration/rel-secrets.bats checks).
auth_file() {
	header_file "${2:-Authorization}: ${3:-Bearer} $1"
}

# header_file LINE...: the same for any header lines, one per argument.
header_file() {
	local f
	f=$(mktemp "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/headers.XXXXXX")
	printf '%s\n' "$@" >"$f"
	printf '%s\n' "$f"
}

# register HOSTNAME MAC [TOKEN] [curl args...]
register() {
	local token=${3-$STACK_TOKEN}
	local -a auth=()
	if [[ -n $token ]]; then
		auth=(-H @"$(auth_file "$token")")
	fi
	http POST /register "${@:4}" -H 'Content-Type: application/json' \
	    "${auth[@]}" --data-binary "$(register_body "$1" "$2")"
}

# header NAME: the value of response header NAME from the last http call.
header() {
	awk -v want="$(tr '[:upper:]' '[:lower:]' <<<"$1")" '
		{ i = index($0, ":"); if (i == 0) next
		  n = tolower(substr($0, 1, i - 1))
		  if (n == want) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v; exit } }' \
	    <<<"$HTTP_HEADERS"
}

# cgi NAME METHOD [BODY|@FILE] [VAR=value...]: runs cgi-bin/NAME once as
# plain CGI in a clean environment: the stack's configuration, then
# REQUEST_METHOD, CONTENT_TYPE, CONTENT_LENGTH (of BODY), the stack's
# token as HTTP_AUTHORIZATION and REMOTE_ADDR=127.0.0.1, then VAR=value
# overrides (HTTP_AUTHORIZATION= sends none). The variables reach the
# program through its environment alone, not through env(1)'s arguments,
# which the process list would show. Never fails itself: sets
# CGI_RC, CGI_STATUS (from the Status header: 200 without one, empty when
# there was no output at all), CGI_HEADERS, CGI_BODY and CGI_STDERR, and
# appends stderr to $STACK_LOGS/cgi.log.
cgi() {
	local name=$1 method=$2 body=${3-} out length
	shift 2
	if (($# > 0)); then
		shift
	fi
	local -a STACK_ENV wrapper=()
	_stack_env_array
	read -r -a wrapper <<<"${PROV_TEST_WRAPPER:-}"
	out="${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/cgi"
	if [[ $body == @* ]]; then
		cp "${body#@}" "$out.in"
	else
		printf '%s' "$body" >"$out.in"
	fi
	length=$(stat -c %s "$out.in")
	CGI_RC=0
	(
		local v
		while IFS= read -r v; do
			export -n "$v"
		done < <(compgen -e)
		while read -r _ _ v; do
			export -nf "$v"
		done < <(declare -Fx)
		for v in "${STACK_ENV[@]}" \
		    GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
		    REQUEST_METHOD="$method" SCRIPT_NAME="/$name" PATH_INFO= \
		    CONTENT_TYPE=application/json CONTENT_LENGTH="$length" \
		    HTTP_AUTHORIZATION="Bearer $STACK_TOKEN" REMOTE_ADDR=127.0.0.1 \
		    "$@"; do
			export "${v?}"
		done
		exec "${wrapper[@]}" "$TOP_BUILDDIR/cgi-bin/$name"
	) <"$out.in" >"$out.out" 2>"$out.err" || CGI_RC=$?
	cat "$out.err" >>"$STACK_LOGS/cgi.log"
	CGI_STDERR=$(cat "$out.err")
	# Headers end at the first empty line (CRLF or LF).
	CGI_HEADERS=$(awk '{ sub(/\r$/, "") } $0 == "" { exit } { print }' "$out.out")
	CGI_BODY=$(awk 'body { print; next } { sub(/\r$/, "") } $0 == "" { body = 1 }' "$out.out")
	CGI_STATUS=$(awk 'tolower($1) == "status:" { print $2; exit }' <<<"$CGI_HEADERS")
	# CGI allows a response without Status (meaning 200), but no output at
	# all is no response.
	if [[ -z $CGI_STATUS && -n $CGI_HEADERS ]]; then
		CGI_STATUS=200
	fi
	export CGI_RC CGI_STATUS CGI_HEADERS CGI_BODY CGI_STDERR
}

# cgi_header NAME: a header from the last cgi run.
cgi_header() {
	HTTP_HEADERS=$CGI_HEADERS header "$1"
}

# assert_json_error [BODY]: BODY (default HTTP_BODY) is a JSON object with
# one member, "error", a non-empty string.
assert_json_error() {
	local body=${1-$HTTP_BODY}
	if ! jq -e 'type == "object" and keys == ["error"] and
	    (.error | type == "string" and length > 0)' >/dev/null 2>&1 <<<"$body"; then
		fail "not a JSON error body: $body"
	fi
}

# assert_no_secrets FILE...: none of the files holds either token,
# a full pre-auth key, or a request body's JSON.
assert_no_secrets() {
	local f
	for f in "$@"; do
		[[ -f $f ]] || continue
		if grep -qF "$STACK_TOKEN" "$f"; then
			fail "$f contains the enrollment token"
		fi
		if [[ -n ${STACK_ADMIN_TOKEN:-} ]] &&
		    grep -qF "$STACK_ADMIN_TOKEN" "$f"; then
			fail "$f contains the admin token"
		fi
		if grep -qE 'hskey-auth-[A-Za-z0-9_-]{12}-[A-Za-z0-9_-]{64}' "$f"; then
			fail "$f contains a pre-auth key"
		fi
		if grep -qF '"hostname":' "$f"; then
			fail "$f contains a request body"
		fi
	done
}

# client_bin DIR TOOL...: DIR holds only the named tools and a tailscale
# that runs the stand-in, so a client script run with PATH=DIR cannot use
# anything it does not declare. (The stand-in itself may use anything, so
# it gets the usual PATH.)
client_bin() {
	local dir=$1 tool
	shift
	mkdir -p "$dir"
	for tool in "$@"; do
		ln -s "$(command -v "$tool")" "$dir/$tool"
	done
	cat >"$dir/tailscale" <<-EOF
		#!/bin/sh
		PATH=/usr/sbin:/usr/bin:/sbin:/bin exec '$TOP_SRCDIR/tests/standin/tailscale' "\$@"
	EOF
	chmod 0755 "$dir/tailscale"
}
