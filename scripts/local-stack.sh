#!/usr/bin/env bash
#
# local-stack.sh: the provisioning API running on this machine, on loopback,
# in one command (the first step of the README's quick start).
#
# As root on a fresh Debian 12: installs the build and test dependencies
# (scripts/deps.sh), builds out of tree in ./build, then starts the three
# programs on unix sockets and Caddy (caddy/Caddyfile.local) in front of
# them on http://127.0.0.1:8080. Uses the real headscale when one is on
# PATH (HEADSCALE_URL must then name its public URL), else the stand-in
# built from tests/standin. Prints ready-to-paste curl commands, registers
# one machine as a self-check, and stays in the foreground until Ctrl-C or
# SIGTERM, then stops everything it started.
#
# Options:
#	--check		stop after the self-check (exit 0 when it passed)
#	--no-deps	skip scripts/deps.sh
#	--no-build	use what BUILD_DIR already holds
#	--standin	use the headscale stand-in even if headscale is on PATH
#
# Environment:
#	PROVISIONER_HTTP_PORT	port on 127.0.0.1 (default 8080)
#	BUILD_DIR		build directory (default ./build)
#	LOCAL_STACK_DIR		state: token, database, logs, sockets
#				(default $BUILD_DIR/local-stack)
#	LOCAL_STACK_WORKERS	--workers for each program (default 2)
#	HEADSCALE_URL		login server handed to clients (required with
#				a real headscale; default https://hs.example.test)
#	HEADSCALE_CONFIG	passed to a real headscale when set
#	CADDY			caddy binary (default: caddy on PATH)
set -euo pipefail

prog=${0##*/}
top=$(cd "$(dirname "$0")/.." && pwd)
check=0 deps=1 build=1 standin=0

while (($# > 0)); do
	case $1 in
	--check) check=1 ;;
	--no-deps) deps=0 ;;
	--no-build) build=0 ;;
	--standin) standin=1 ;;
	-h | --help)
		sed -n '3,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*)
		echo "$prog: unknown option: $1 (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

say() {
	printf '%s: %s\n' "$prog" "$*" >&2
}

die() {
	say "$*"
	exit 1
}

builddir=${BUILD_DIR:-$top/build}
port=${PROVISIONER_HTTP_PORT:-8080}
workers=${LOCAL_STACK_WORKERS:-2}
caddy=${CADDY:-caddy}

if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
	die "PROVISIONER_HTTP_PORT must be a TCP port, not '$port'"
fi

if ((deps)); then
	say "installing dependencies (scripts/deps.sh)"
	"$top/scripts/deps.sh"
fi

if ((build)); then
	say "building in $builddir"
	if [[ ! -x $top/configure ]]; then
		(cd "$top" && ./autogen.sh)
	fi
	mkdir -p "$builddir"
	if [[ ! -f $builddir/Makefile ]]; then
		(cd "$builddir" && "$top/configure")
	fi
	make -C "$builddir" -j"$(nproc)"
fi

for name in health register machines metrics; do
	[[ -x $builddir/cgi-bin/$name ]] ||
		die "$builddir/cgi-bin/$name is missing; build first (without --no-build)"
done
command -v "$caddy" >/dev/null || die "caddy not found; run scripts/deps.sh"

state=${LOCAL_STACK_DIR:-$builddir/local-stack}
mkdir -p "$state"
state=$(cd "$state" && pwd)
data="$state/data" sockets="$state/sock" logs="$state/logs"
mkdir -p "$data" "$sockets" "$logs" "$state/caddy"
chmod 0700 "$data"
token_file="$data/enroll-token"
admin_file="$data/admin-token"

# sun_path holds 108 bytes.
((${#sockets} < 90)) || die "state directory path too long for sockets: $state"

# Caddy sets SO_REUSEPORT, so a second server on the port would not fail:
# it would silently share the traffic. Refuse instead.
if [[ -n $(ss -ltnH "sport = :$port") ]]; then
	die "something already listens on port $port (set PROVISIONER_HTTP_PORT)"
fi

for f in "$token_file" "$admin_file"; do
	if [[ ! -s $f ]]; then
		(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$f" &&
			echo >>"$f")
	fi
done

hs_env=()
if ((!standin)) && real=$(command -v headscale); then
	[[ -n ${HEADSCALE_URL:-} ]] ||
		die "found $real: set HEADSCALE_URL to its public URL (or use --standin)"
	say "using headscale at $real (HEADSCALE_URL=$HEADSCALE_URL)"
	hs_env=("HEADSCALE_BIN=$real" "HEADSCALE_URL=$HEADSCALE_URL")
	if [[ -n ${HEADSCALE_CONFIG:-} ]]; then
		hs_env+=("HEADSCALE_CONFIG=$HEADSCALE_CONFIG")
	fi
else
	standin_bin="$builddir/tests/standin/headscale"
	[[ -x $standin_bin ]] || die "$standin_bin is missing; build first"
	hs_config="$state/headscale/config.yaml"
	mkdir -p "${hs_config%/*}"
	say "using the headscale stand-in (state in ${hs_config%/*}/standin)"
	if [[ ! -f $hs_config ]]; then
		printf 'server_url: %s\n' "${HEADSCALE_URL:-https://hs.example.test}" \
			>"$hs_config"
		for user in sovran-deploy admin; do
			HEADSCALE_CONFIG="$hs_config" "$standin_bin" users create \
				"$user" -o json >/dev/null
		done
	fi
	hs_env=("HEADSCALE_BIN=$standin_bin" "HEADSCALE_CONFIG=$hs_config"
		"HEADSCALE_URL=${HEADSCALE_URL:-https://hs.example.test}")
fi

pids=()

# Run from the traps; shellcheck cannot see that.
# shellcheck disable=SC2317
stop_all() {
	local pid i
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		# Each process leads its own group: take any workers along.
		kill -KILL -- "-$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}
trap stop_all EXIT
trap 'say "stopping"; stop_all; exit 0' INT TERM

wait_for() {
	local what=$1 i
	shift
	for ((i = 0; i < 300; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	die "$what did not come up; see $logs"
}

for name in health register machines metrics; do
	setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		PROVISIONER_DATA_DIR="$data" "${hs_env[@]}" \
		"$builddir/cgi-bin/$name" --listen "$sockets/$name.sock" \
		--workers "$workers" </dev/null >>"$logs/$name.log" 2>&1 &
	pids+=($!)
	wait_for "$name" test -S "$sockets/$name.sock"
done

setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$state/caddy" \
	XDG_CONFIG_HOME="$state/caddy/config" XDG_DATA_HOME="$state/caddy/data" \
	PROVISIONER_HTTP_PORT="$port" PROVISIONER_SOCKET_DIR="$sockets" \
	CADDY_STATE_DIR="$state/caddy/state" CADDY_ACCESS_LOG="$logs/access.log" \
	"$caddy" run --adapter caddyfile --config "$top/caddy/Caddyfile.local" \
	</dev/null >>"$logs/caddy.log" 2>&1 &
pids+=($!)
url="http://127.0.0.1:$port"
# shellcheck disable=SC2317
health_ok() {
	[[ $(curl -s -o /dev/null -w '%{http_code}' "$url/health") == 200 ]]
}
wait_for caddy health_ok

q_token=$(printf '%q' "$token_file")
q_admin=$(printf '%q' "$admin_file")
cat <<EOF

sovran-provisioner is running at $url
  token file: $token_file (enrollment: /register)
  admin file: $admin_file (operator: /machines, /metrics)
  logs:       $logs/

Try:
  curl -sS $url/health
  printf 'header = "Authorization: Bearer %s"\\n' "\$(cat $q_token)" |
    curl -sS --config - -X POST -H 'Content-Type: application/json' \\
       -d '{"hostname":"demo-1","mac":"52:54:00:12:34:56"}' $url/register
  printf 'header = "Authorization: Bearer %s"\\n' "\$(cat $q_admin)" |
    curl -sS --config - $url/machines
  printf 'header = "Authorization: Bearer %s"\\n' "\$(cat $q_admin)" |
    curl -sS --config - $url/metrics

  (The tokens go to curl on its standard input, never on its command
  line, where the process list would show them.)

EOF

say "self-check: registering local-check"
body=$(mktemp)
# The token reaches curl on stdin (--config -), from the printf builtin.
code=$(printf 'header = "Authorization: Bearer %s"\n' "$(tr -d '\n' <"$token_file")" |
	curl -sS --config - -o "$body" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/json' \
	--data-binary '{"hostname":"local-check","mac":"52:54:00:00:00:01"}' \
	"$url/register") || code=000
# The key is a credential: show only its public prefix.
shown=$(jq -c 'if .headscale_key then .headscale_key |= .[0:23] + "-***" else . end' \
	"$body" 2>/dev/null || echo '(not JSON)')
rm -f "$body"
echo "self-check: POST /register -> $code $shown"
if [[ $code != 200 ]]; then
	die "self-check failed; see $logs"
fi
echo "self-check passed"

if ((check)); then
	exit 0
fi

echo "Press Ctrl-C to stop."
# Stay up until a signal, or until one of the processes dies.
wait -n "${pids[@]}" || true
say "a process exited unexpectedly; stopping (see $logs)"
exit 1
