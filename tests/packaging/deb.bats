#!/usr/bin/env bats
# deb.bats: the Debian package, built the way an operator builds it and
# installed the way apt installs it, into a throwaway Debian 12 root.
#
# setup_file builds the packages with build-deb.sh from a copy of the
# distributed tree plus debian/ (the source tree is never written to), then
# again from a copy with a newer changelog entry and a changed example
# environment: the upgrade. Every dpkg run uses `dpkg --root` on a Debian
# 12 root unpacked from the cached tarball tests/packaging/mkroot.sh makes, so
# the maintainer scripts run chrooted there, and the machine's own dpkg
# database is never opened.
# Without systemd running in that root they must still do their part:
# create the user, enable the units, keep or remove files.
#
# Run with `make check TESTS=tests/packaging/deb.bats` (test-all.sh stage
# "packaging"); needs root for chroot and debootstrap.

# shellcheck disable=SC2016 # dpkg-query's ${Field} formats, literally
bats_require_minimum_version 1.5.0
load skip

# dpkg in the root; the maintainer scripts run chrooted inside it.
rdpkg() {
	dpkg --root="$R" --force-unsafe-io "$@"
}

# Lists every path in the root except dpkg's and apt's own records and the
# account files (checked on their own: the user is meant to stay).
snapshot() {
	(cd "$R" && find . -xdev \
	    \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \
	       -o -path ./proc -o -path ./tmp \) -prune -o -print |
	    grep -vE '^\./etc/(passwd|group|shadow|gshadow)-?$' | sort)
}

setup_file() {
	if [ "$(id -u)" -ne 0 ]; then
		cannot "needs root (chroot, debootstrap)"
		return 0
	fi
	for tool in dpkg-buildpackage lintian debootstrap; do
		if ! command -v "$tool" >/dev/null; then
			cannot "$tool is not installed"
			return 0
		fi
	done
	W=$BATS_FILE_TMPDIR
	export W R="$W/root"

	version=$(sed -n 's/^AC_INIT(\[[^]]*\], \[\([^]]*\)\].*/\1/p' "$TOP_SRCDIR/configure.ac")
	export VERSION=$version

	# The packages, then the upgrade: the same version with the next
	# Debian revision and a changed example environment (so conffile).
	build="$TOP_SRCDIR/tests/packaging/build-deb.sh"
	"$build" "$TOP_SRCDIR" "$TOP_BUILDDIR" "$W/v1"
	rev=$(dpkg-parsechangelog -l "$TOP_SRCDIR/debian/changelog" -S Version)
	export REV1=$rev REV2="${rev%-*}-$((${rev##*-} + 1))"
	"$build" "$TOP_SRCDIR" "$TOP_BUILDDIR" "$W/v1" "${REV2##*-}"

	arch=$(dpkg-architecture -qDEB_HOST_ARCH)
	export DEB1="$W/v1/sovran-provisioner_${REV1}_$arch.deb"
	export CLIENT1="$W/v1/sovran-provisioner-client_${REV1}_all.deb"
	export DEB2="$W/v1/${REV2##*-}/sovran-provisioner_${REV2}_$arch.deb"
	export CHANGES1="$W/v1/sovran-provisioner_${REV1}_$arch.changes"

	tarball="$TOP_BUILDDIR/system-root.tar.gz"
	"$TOP_SRCDIR/tests/packaging/mkroot.sh" "$tarball"
	mkdir "$R"
	tar -C "$R" --numeric-owner -xzf "$tarball"
	snapshot >"$W/before"
	cp "$R/etc/passwd" "$R/etc/group" "$W/"
}

@test "debian/changelog carries the version configure.ac sets" {
	changelog=$(dpkg-parsechangelog -l "$TOP_SRCDIR/debian/changelog" -S Version)
	[ "${changelog%-*}" = "$VERSION" ] || {
		echo "configure.ac says $VERSION, debian/changelog says $changelog" >&2
		return 1
	}
}

@test "the build left the source tree as it was" {
	[ ! -e "$TOP_SRCDIR/debian/build" ]
	[ ! -e "$TOP_SRCDIR/debian/tmp" ]
	[ ! -e "$TOP_SRCDIR/debian/sovran-provisioner" ]
	[ ! -e "$TOP_SRCDIR/debian/files" ]
}

@test "lintian: no errors, no warnings on the packages and the .changes" {
	# --fail-on makes a warning fail as an error would; the grep catches a
	# lintian that printed tags and still exited 0.
	run lintian --fail-on error,warning "$CHANGES1"
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -E '^[EW]: ' <<<"$output" || return 1
}

@test "dpkg-deb -I: name, version, dependencies, conffile" {
	run -0 dpkg-deb -f "$DEB1" Package Version Architecture Depends Recommends
	echo "$output"
	grep -qx "Version: $REV1" <<<"$output"
	grep -q '^Depends:.*libfcgi0ldbl' <<<"$output"
	grep -q '^Depends:.*libjson-c5' <<<"$output"
	grep -q '^Depends:.*libsqlite3-0' <<<"$output"
	grep -q '^Depends:.*systemd | systemd-standalone-sysusers' <<<"$output"
	grep -qx 'Recommends: caddy' <<<"$output"
	run -0 dpkg-deb -I "$DEB1" conffiles
	[ "$output" = /etc/sovran-provisioner/environment ]
	run -0 dpkg-deb -f "$CLIENT1" Architecture Depends
	grep -qx 'Architecture: all' <<<"$output"
	grep -q 'curl' <<<"$output"
}

@test "dpkg-deb -c: the server files, and none of the client's" {
	run -0 dpkg-deb -c "$DEB1"
	files=$output
	for f in \
	    ./usr/libexec/sovran-provisioner/health \
	    ./usr/libexec/sovran-provisioner/register \
	    ./usr/libexec/sovran-provisioner/machines \
	    ./usr/sbin/sovran-provisioner-bootstrap \
	    ./lib/systemd/system/sovran-provisioner-bootstrap.service \
	    ./usr/lib/sysusers.d/sovran-provisioner.conf \
	    ./etc/sovran-provisioner/environment \
	    ./usr/share/doc/sovran-provisioner/examples/environment \
	    ./usr/share/doc/sovran-provisioner/examples/Caddyfile \
	    ./usr/share/man/man8/sovran-provisioner.8.gz; do
		grep -q " $f\$" <<<"$files" || {
			echo "missing: $f" >&2
			return 1
		}
	done
	for e in health register machines; do
		grep -q " ./lib/systemd/system/sovran-provisioner-$e.socket\$" <<<"$files"
		grep -q " ./lib/systemd/system/sovran-provisioner-$e.service\$" <<<"$files"
	done
	# Programs executable, nothing setuid, nothing under /usr/local.
	grep -q '^-rwxr-xr-x root/root .* ./usr/libexec/sovran-provisioner/register$' <<<"$files"
	! grep -E '^-..[sS]|^-.....[sS]| \./usr/local/' <<<"$files" || return 1
	! grep -E 'sovran-auto-provision|deploy-tailscale-connect' <<<"$files" || return 1
}

@test "install: the guide's layout, the user, the units enabled" {
	run -0 rdpkg -i "$DEB1"
	echo "$output"
	# The paths as the guide names them (/usr/lib is where /lib points).
	for f in \
	    /usr/libexec/sovran-provisioner/health \
	    /usr/libexec/sovran-provisioner/register \
	    /usr/libexec/sovran-provisioner/machines \
	    /usr/sbin/sovran-provisioner-bootstrap \
	    /usr/lib/systemd/system/sovran-provisioner-bootstrap.service \
	    /usr/lib/systemd/system/sovran-provisioner-register.socket \
	    /usr/share/doc/sovran-provisioner/examples/environment \
	    /usr/share/doc/sovran-provisioner/examples/Caddyfile \
	    /usr/share/doc/sovran-provisioner/examples/config.yaml.in \
	    /usr/share/doc/sovran-provisioner/examples/acl.hujson.in \
	    /usr/share/doc/sovran-provisioner/examples/nftables.conf \
	    /etc/sovran-provisioner/environment; do
		[ -f "$R$f" ] || {
			echo "missing: $f" >&2
			return 1
		}
	done
	[ -x "$R/usr/libexec/sovran-provisioner/register" ]
	# Each program the package ships finds its libraries in the root.
	for p in health register machines; do
		run -0 chroot "$R" ldd "/usr/libexec/sovran-provisioner/$p"
		! grep 'not found' <<<"$output" || return 1
	done
	# systemd-sysusers ran in postinst.
	grep -q '^sovran-provisioner:x:[0-9]*:[0-9]*:.*:/var/lib/sovran-provisioner:/usr/sbin/nologin$' "$R/etc/passwd"
	grep -qE '^headscale:x:[0-9]+:(.*,)?sovran-provisioner(,|$)' "$R/etc/group"
	# Enabled the Debian way; the client's units are not in this package.
	for e in health register machines; do
		[ -L "$R/etc/systemd/system/sockets.target.wants/sovran-provisioner-$e.socket" ]
	done
	[ -L "$R/etc/systemd/system/multi-user.target.wants/sovran-provisioner-bootstrap.service" ]
	# The conffile is the example, as dpkg recorded it.
	cmp "$R/etc/sovran-provisioner/environment" \
	    "$R/usr/share/doc/sovran-provisioner/examples/environment"
	run -0 dpkg-query --root="$R" -W -f='${Conffiles}' sovran-provisioner
	grep -q '/etc/sovran-provisioner/environment [0-9a-f]\{32\}$' <<<"$output"
	# Installing again changes nothing and fails nothing.
	snapshot >"$W/installed"
	run -0 rdpkg -i "$DEB1"
	snapshot | diff "$W/installed" -
}

@test "upgrade: the operator's edit kept, the new example beside it" {
	sed -i 's|^HEADSCALE_URL=.*|HEADSCALE_URL=https://hs.example.net|' \
	    "$R/etc/sovran-provisioner/environment"
	run -0 rdpkg --force-confold -i "$DEB2"
	echo "$output"
	run -0 dpkg-query --root="$R" -W -f='${Version} ${Status}' sovran-provisioner
	[ "$output" = "$REV2 install ok installed" ]
	grep -qx 'HEADSCALE_URL=https://hs.example.net' "$R/etc/sovran-provisioner/environment"
	grep -qx '# changed in the upgrade test' "$R/etc/sovran-provisioner/environment.dpkg-dist"
	# The units stay enabled; the user is still there, once.
	[ -L "$R/etc/systemd/system/sockets.target.wants/sovran-provisioner-health.socket" ]
	[ "$(grep -c '^sovran-provisioner:' "$R/etc/passwd")" -eq 1 ]
}

@test "remove keeps the configuration and the data; purge leaves nothing" {
	# What the bootstrap would have made at first boot.
	install -d -m 0750 "$R/var/lib/sovran-provisioner"
	echo token >"$R/var/lib/sovran-provisioner/enroll-token"

	run -0 rdpkg -r sovran-provisioner
	echo "$output"
	run -0 dpkg-query --root="$R" -W -f='${Status}' sovran-provisioner
	[ "$output" = "deinstall ok config-files" ]
	[ ! -e "$R/usr/libexec/sovran-provisioner/register" ]
	[ ! -e "$R/usr/lib/systemd/system/sovran-provisioner-register.socket" ]
	[ -f "$R/etc/sovran-provisioner/environment" ]
	[ -f "$R/var/lib/sovran-provisioner/enroll-token" ]

	run -0 rdpkg -P sovran-provisioner
	echo "$output"
	[ ! -e "$R/var/lib/sovran-provisioner" ]
	[ ! -e "$R/etc/sovran-provisioner" ]
	# Every path is as it was before the install; of the accounts, only
	# the service user and the headscale group it joined are new.
	snapshot | diff "$W/before" -
	diff "$W/passwd" "$R/etc/passwd" | grep '^[<>]' | grep -v '^> sovran-provisioner:' && return 1
	diff "$W/group" "$R/etc/group" | grep '^[<>]' |
	    grep -vE '^> (sovran-provisioner|headscale):' && return 1
	# Purging again is harmless.
	run -0 rdpkg -P sovran-provisioner
}
