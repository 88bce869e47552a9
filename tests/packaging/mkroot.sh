#!/bin/sh
# mkroot.sh TARBALL: a Debian 12 (bookworm) root with systemd, Caddy and the
# provisioner's runtime libraries, packed into TARBALL, built with
# debootstrap only when TARBALL does not exist yet. The packaging test and
# the system test unpack it into a scratch directory and install the .deb
# there, so the machine's own dpkg database is never involved.
#
# The mirror is the one this machine's apt uses (first URIs: line of a
# deb822 file, or first deb line, that serves bookworm), read at run time
# so no host name is written into the tree; MIRROR overrides it.
set -eu

tarball=$1
[ -s "$tarball" ] && exit 0

if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ { u = $2 } /^Suites:.*[[:space:]]bookworm([[:space:]]|$)/ { if (u) { print u; exit } }')
fi
if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
fi
if [ -z "${MIRROR:-}" ]; then
	echo "mkroot.sh: no bookworm mirror in /etc/apt; set MIRROR" >&2
	exit 1
fi

dir=$(mktemp -d "${tarball}.XXXXXX")
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,caddy,libfcgi0ldbl,libjson-c5,libsqlite3-0 \
    bookworm "$dir/root" "$MIRROR" >"$dir/debootstrap.log" 2>&1 || {
	tail -n 30 "$dir/debootstrap.log" >&2
	exit 1
}
# Nothing the root's packages download or cache is needed again.
rm -rf "$dir"/root/var/cache/apt/archives/*.deb "$dir"/root/var/lib/apt/lists/*
tar -C "$dir/root" --numeric-owner -czf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
