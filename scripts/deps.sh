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
	openssh-server openssh-client faketime strace
"

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Debian's caddy package enables a service on port 80; keep package
# installation from starting any service on this machine.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

echo "deps: apt-get update" >&2
apt-get update -q
echo "deps: installing packages" >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $packages
