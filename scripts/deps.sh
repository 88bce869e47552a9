#!/bin/sh
# Installs every Debian 12 package the build, the local stack and the test
# suite need. Idempotent: apt-get skips what is already there. Run as root.
set -eu

packages="
	build-essential autoconf automake autoconf-archive pkgconf
	libfcgi-dev libfcgi-bin spawn-fcgi libjson-c-dev libsqlite3-dev sqlite3
	caddy curl jq iproute2 procps
	bats bats-assert bats-support bats-file
	clang-14 libclang-rt-14-dev valgrind shellcheck cppcheck
	mandoc nftables nix-bin systemd yq
	wrk gnuplot-nox
	openssh-server openssh-client faketime strace prometheus
"

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Debian's caddy package enables a service on port 80; keep package
# installation from starting any service on this machine. (Tests point
# POLICY_RC_D elsewhere.)
policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

# apt COMMAND...: runs apt-get, waiting while another apt or dpkg (often
# unattended-upgrades, right after a machine boots) holds apt's lock: up
# to APT_LOCK_WAIT seconds (default 600), then it gives up, saying why.
lock_wait=${APT_LOCK_WAIT:-600}
lock_step=${APT_LOCK_STEP:-10}
apt() {
	waited=0
	err=$(mktemp)
	while :; do
		if apt-get "$@" 2>"$err"; then
			cat "$err" >&2
			rm -f "$err"
			return 0
		fi
		if ! grep -qE 'Could not get lock|Unable to (acquire|lock)' "$err"; then
			cat "$err" >&2
			rm -f "$err"
			return 1
		fi
		if [ "$waited" -ge "$lock_wait" ]; then
			cat "$err" >&2
			rm -f "$err"
			echo "deps: apt's lock is still held after ${waited}s; is another apt-get, dpkg or unattended-upgrades still running? Try again when it is done." >&2
			return 1
		fi
		echo "deps: apt's lock is held by another process (often unattended-upgrades after boot); waiting (${waited}s of ${lock_wait}s)" >&2
		sleep "$lock_step"
		waited=$((waited + lock_step))
	done
}

echo "deps: apt-get update" >&2
apt update -q
echo "deps: installing packages" >&2
# shellcheck disable=SC2086
apt install -y -q --no-install-recommends $packages
