# shellcheck shell=bash
#
# lib.bash: a Debian 12 root booted under systemd-nspawn, for the system
# test (system.bats).
#
# The root is built once with debootstrap from the mirror this machine's
# own apt uses, with Caddy, nftables and the libraries the programs link
# against installed by apt inside it, and kept as a tarball in the build
# directory; a missing tarball is built again. Each run unpacks a fresh
# copy, installs the project into it as an operator would, boots it with
# systemd as PID 1 and talks to it two ways: over HTTP through Caddy from
# this side (the container shares the host's network namespace, and Caddy
# binds loopback only), and from inside by entering the namespaces of the
# container's PID 1 with nsenter. The container is stopped by the PID of
# its systemd-nspawn, never by name.
#
# Functions:
#	sys_prereq		why this machine cannot run the test, or nothing
#	sys_root_tarball	prints the cached root's path, building it first
#	sys_unpack		a fresh root at $SYS_ROOT from the tarball
#	sys_boot / sys_poweroff	start the container / stop it by PID and wait
#	ct CMD...		CMD inside the running container
#	sys_build NAME [CONFIGURE_ARGS...]
#				the project built with the guide's flags in
#				$SYS_WORK/NAME
#	sys_build_newer		the same with a newer version and one more
#				migration (the upgrade)

: "${TOP_SRCDIR:?TOP_SRCDIR must name the source tree}"
: "${TOP_BUILDDIR:?TOP_BUILDDIR must name the build tree}"

# Everything lives in the build tree: the cached root, the builds, the run.
SYS_WORK=${SYS_WORK:-$TOP_BUILDDIR/tests/system-work}
SYS_ROOT=$SYS_WORK/root
SYS_LOG=$SYS_WORK/logs
# What apt installs into the root beside the base system: what the guide
# installs (Caddy, nftables), the run-time libraries of the programs, and
# netbase, which every Debian server has but minbase lacks: nft resolves
# "ipv6-icmp" in nftables.conf through its /etc/protocols.
SYS_PACKAGES="caddy nftables netbase libfcgi0ldbl libjson-c5 libsqlite3-0"
SYS_SUITE=bookworm
# Seconds to wait for a boot, a power-off, a port. Generous for a busy host.
SYS_WAIT=${SYS_WAIT:-120}
# The guide's configure flags (docs/remote-deploy-headscale.md, Debian).
SYS_CONFIGURE=(--prefix=/usr --sysconfdir=/etc --localstatedir=/var)

sys_prereq() {
	local tool
	if ((EUID != 0)); then
		echo "needs root (debootstrap, chroot, systemd-nspawn)"
		return
	fi
	for tool in debootstrap systemd-nspawn nsenter chroot curl jq ss unshare; do
		if ! command -v "$tool" >/dev/null; then
			echo "$tool is not installed"
			return
		fi
	done
	if [[ ! -d /run/systemd/system && ! -d /sys/fs/cgroup ]]; then
		echo "no cgroup file system for systemd-nspawn"
		return
	fi
	if [[ -z $(sys_mirror) ]]; then
		echo "no Debian mirror for $SYS_SUITE in /etc/apt/sources.list(.d)"
	fi
}

# sys_mirror: the first mirror apt here uses for $SYS_SUITE main, from
# deb822 .sources files or the one-line format. Read at run time, so no
# host name is written anywhere.
sys_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk -v suite="$SYS_SUITE" 'BEGIN { RS = "" }
		{
			uri = ""; t = s = c = 0; off = 0
			n = split($0, l, "\n")
			for (i = 1; i <= n; i++) {
				if (l[i] ~ /^#/) continue
				if (l[i] ~ /^Enabled:[ \t]*no/) off = 1
				if (l[i] ~ /^URIs:/) { split(l[i], w, /[ \t]+/); uri = w[2] }
				if (l[i] ~ /^Types:/ && l[i] ~ /[ \t]deb([ \t]|$)/) t = 1
				if (l[i] ~ ("^Suites:.*[ \t]" suite "([ \t]|$)")) s = 1
				if (l[i] ~ /^Components:/ && l[i] ~ /[ \t]main([ \t]|$)/) c = 1
			}
			if (uri != "" && t && s && c && !off) { print uri; exit }
		}' "$f"
	done | head -n 1
	[[ -f /etc/apt/sources.list ]] &&
		awk -v suite="$SYS_SUITE" '$1 == "deb" {
			u = ""; s = 0; c = 0
			for (i = 2; i <= NF; i++) {
				if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue }
				if (u == "") { u = $i; continue }
				if ($i == suite) s = 1
				if ($i == "main") c = 1
			}
			if (s && c) { print u; exit }
		}' /etc/apt/sources.list
}

# sys_chroot_apt ROOT ARGS...: apt-get inside ROOT, where no service may
# start (policy-rc.d), non-interactively.
sys_chroot_apt() {
	local root=$1
	shift
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	chroot "$root" env DEBIAN_FRONTEND=noninteractive \
	    apt-get -q -y -o Dpkg::Options::=--force-confold "$@"
	local rc=$?
	rm -f "$root/usr/sbin/policy-rc.d"
	return "$rc"
}

sys_root_tarball() {
	local key tar tmp mirror
	key=$(printf '%s %s\n' "$SYS_SUITE" "$SYS_PACKAGES" | sha256sum | cut -c1-12)
	tar="$SYS_WORK/debian-$SYS_SUITE-$key.tar"
	if [[ -s $tar ]]; then
		echo "$tar"
		return 0
	fi
	mirror=$(sys_mirror)
	tmp="$SYS_WORK/root.build"
	mkdir -p "$SYS_WORK" "$SYS_LOG" && rm -rf "$tmp" || return 1
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus \
	    "$SYS_SUITE" "$tmp" "$mirror" >"$SYS_LOG/debootstrap.log" 2>&1 &&
		sys_chroot_apt "$tmp" update >"$SYS_LOG/apt.log" 2>&1 &&
		sys_chroot_apt "$tmp" install --no-install-recommends \
		    $SYS_PACKAGES >>"$SYS_LOG/apt.log" 2>&1 &&
		sys_chroot_apt "$tmp" clean >>"$SYS_LOG/apt.log" 2>&1 &&
		tar -C "$tmp" -cf "$tar.tmp" . &&
		mv "$tar.tmp" "$tar" || {
		echo "building the root failed; see $SYS_LOG" >&2
		rm -rf "$tmp" "$tar.tmp"
		return 1
	}
	rm -rf "$tmp"
	echo "$tar"
}

sys_unpack() {
	local tar
	tar=$(sys_root_tarball) || return 1
	rm -rf "$SYS_ROOT" && mkdir -p "$SYS_ROOT" "$SYS_LOG" &&
		tar -C "$SYS_ROOT" -xf "$tar"
}

# sys_boot: boots the root; returns once systemd inside has finished
# starting up (running or degraded). The PID of systemd-nspawn is kept in
# $SYS_WORK/nspawn.pid, that of the container's PID 1 in leader.pid.
sys_boot() {
	local deadline=$((SECONDS + SYS_WAIT)) pid leader=
	# A subshell, so systemd-nspawn outlives the test process that starts
	# it; every descriptor redirected, so bats does not wait on it.
	(
		systemd-nspawn -D "$SYS_ROOT" -b --register=no --keep-unit \
		    --console=read-only </dev/null \
		    >>"$SYS_LOG/console.log" 2>&1 3>&- 4>&- &
		echo "$!" >"$SYS_WORK/nspawn.pid"
	)
	pid=$(<"$SYS_WORK/nspawn.pid")
	while ((SECONDS < deadline)); do
		if ! sys_alive "$pid"; then
			echo "systemd-nspawn exited during boot; last console lines:" >&2
			tail -n 20 "$SYS_LOG/console.log" >&2
			return 1
		fi
		leader=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
		leader=${leader%% *}
		if [[ -n $leader ]] &&
		    [[ $(cat "/proc/$leader/comm" 2>/dev/null) == systemd ]]; then
			echo "$leader" >"$SYS_WORK/leader.pid"
			# Exits 0 for running, 1 for degraded, once boot is over.
			if timeout 10 nsenter -t "$leader" -a -- \
			    /usr/bin/systemctl is-system-running --wait \
			    >/dev/null 2>&1 || ct_state_settled; then
				return 0
			fi
		fi
		sleep 0.5
	done
	echo "the container did not finish booting in ${SYS_WAIT}s" >&2
	return 1
}

ct_state_settled() {
	case $(ct systemctl is-system-running 2>/dev/null) in
	running | degraded) return 0 ;;
	esac
	return 1
}

# sys_alive PID: PID exists and is not a zombie.
sys_alive() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# sys_poweroff: SIGTERM to systemd-nspawn (it powers the container off
# cleanly), then waits for it to exit.
sys_poweroff() {
	local pid deadline=$((SECONDS + SYS_WAIT))
	[[ -f $SYS_WORK/nspawn.pid ]] || return 0
	pid=$(<"$SYS_WORK/nspawn.pid")
	# A PID file left by an earlier run may name a reused PID by now: only
	# our systemd-nspawn, booting this root, is stopped.
	if sys_alive "$pid" &&
	    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
	    grep -q "^systemd-nspawn -D $SYS_ROOT "; then
		kill -TERM "$pid" 2>/dev/null
		while sys_alive "$pid"; do
			if ((SECONDS >= deadline)); then
				echo "systemd-nspawn $pid did not stop; SIGKILL" >&2
				kill -KILL "$pid" 2>/dev/null
				sleep 1
				break
			fi
			sleep 0.2
		done
	fi
	rm -f "$SYS_WORK/nspawn.pid" "$SYS_WORK/leader.pid"
}

# ct CMD...: runs CMD inside the container (all of PID 1's namespaces),
# with a clean environment.
ct() {
	nsenter -t "$(<"$SYS_WORK/leader.pid")" -a -- \
	    /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# sys_build NAME [CONFIGURE...]: a build of the source tree with the
# guide's configure flags in $SYS_WORK/NAME, made incrementally.
sys_build() {
	local dir="$SYS_WORK/$1" configure=${SYS_CONFIGURE_SCRIPT:-$TOP_SRCDIR/configure}
	shift
	mkdir -p "$dir" || return 1
	if [[ ! -f $dir/Makefile ]]; then
		(cd "$dir" && "$configure" --srcdir="$TOP_SRCDIR" \
		    "${SYS_CONFIGURE[@]}" "$@") >"$SYS_LOG/configure-${dir##*/}.log" 2>&1 ||
			return 1
	fi
	nice make -C "$dir" -j"$(nproc)" >"$SYS_LOG/make-${dir##*/}.log" 2>&1
}

# The migrations of the source tree, in order, relative to it.
sys_migrations() {
	(cd "$TOP_SRCDIR" && printf '%s\n' sql/[0-9][0-9][0-9]-*.sql)
}

# sys_marker_migration DIR: writes DIR/sql/NNN-upgrade-marker.sql, the
# migration after the tree's last: a table holding one row per time the
# migration ran, so "applied once" can be counted.
sys_marker_migration() {
	local n
	n=$(($(sys_migrations | wc -l) + 1))
	mkdir -p "$1/sql" &&
		cat >"$1/sql/$(printf '%03d' "$n")-upgrade-marker.sql" <<-EOF
		-- Only in the system test's newer build (tests/system/lib.bash).
		CREATE TABLE IF NOT EXISTS upgrade_marker (applied_at INTEGER NOT NULL);
		INSERT INTO upgrade_marker VALUES (strftime('%s', 'now'));
		PRAGMA user_version = $n;
		EOF
	echo "$n"
}

# sys_build_newer: the same tree as version <version>.1 with one more
# migration, in $SYS_WORK/newer: configure copied with the version bumped,
# and lib/migrations.c generated from the tree's migrations plus the
# marker before make (which then finds it up to date).
sys_build_newer() {
	local dir="$SYS_WORK/newer" extra="$SYS_WORK/newer-sql" f
	mkdir -p "$dir" "$extra/sql" || return 1
	sed -e "s/^\(PACKAGE_VERSION='[^']*\)'/\1.1'/" \
	    -e "s/^\(PACKAGE_STRING='.* [0-9][^']*\)'/\1.1'/" \
	    -e "s/^\( VERSION='[^']*\)'/\1.1'/" -e "s/^\(VERSION='[^']*\)'/\1.1'/" \
	    "$TOP_SRCDIR/configure" >"$SYS_WORK/configure.newer" &&
		chmod +x "$SYS_WORK/configure.newer" || return 1
	rm -f "$extra"/sql/*.sql
	for f in $(sys_migrations); do
		ln -s "$TOP_SRCDIR/$f" "$extra/$f"
	done
	sys_marker_migration "$extra" >/dev/null || return 1
	mkdir -p "$dir/lib" &&
		(cd "$extra" && sh "$TOP_SRCDIR/sql/embed.sh" "$extra" \
		    sql/[0-9][0-9][0-9]-*.sql) >"$dir/lib/migrations.c.tmp" &&
		mv "$dir/lib/migrations.c.tmp" "$dir/lib/migrations.c" || return 1
	SYS_CONFIGURE_SCRIPT="$SYS_WORK/configure.newer" sys_build newer
}

# sys_deb_tree: 0 when the tree carries a Debian package (debian/), which
# is then how the project is installed, as an operator on Debian would.
sys_deb_tree() {
	[[ -f $TOP_SRCDIR/debian/control && -f $TOP_SRCDIR/debian/rules ]]
}

# sys_build_deb NAME [newer]: the server package built with
# dpkg-buildpackage from a copy of the tree in $SYS_WORK/NAME-src; "newer"
# adds a changelog entry with a higher version, bumps the programs'
# version to <version>.1 and adds the marker migration.
# Prints the .deb's path.
sys_build_deb() {
	local src="$SYS_WORK/$1-src" version n last
	rm -rf "$src" "$SYS_WORK/$1-debs" && mkdir -p "$src" "$SYS_WORK/$1-debs" ||
		return 1
	if git -C "$TOP_SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$TOP_SRCDIR" && git ls-files -z --cached --others \
		    --exclude-standard | xargs -0 tar -cf - --no-recursion) |
			tar -C "$src" -xf - || return 1
	else
		tar -C "$TOP_SRCDIR" --exclude=./build --exclude="./${TOP_BUILDDIR##*/}" \
		    -cf - . | tar -C "$src" -xf - || return 1
	fi
	if [[ ${2-} == newer ]]; then
		version=$(cd "$src" && dpkg-parsechangelog -S Version)
		# The programs' own version too (dh_autoreconf regenerates).
		sed -i 's/^\(AC_INIT(\[[^]]*\], \[[^]]*\)\]/\1.1]/' "$src/configure.ac" &&
			grep -q '^AC_INIT(\[[^]]*\], \[[^]]*\.1\]' "$src/configure.ac" ||
			return 1
		n=$(sys_marker_migration "$src") || return 1
		last=$(sys_migrations | tail -n 1)
		sed -i "s|^\(\t$last\)\$|\1 \\\\\n\tsql/$(printf '%03d' "$n")-upgrade-marker.sql|" \
		    "$src/sql/Makemodule.am" &&
			grep -q upgrade-marker "$src/sql/Makemodule.am" || return 1
		{
			printf 'sovran-provisioner (%s+systest1) unstable; urgency=medium\n\n' "$version"
			printf '  * Newer build for the system test.\n\n'
			printf ' -- System Test <root@localhost>  %s\n\n' "$(date -R)"
			cat "$src/debian/changelog"
		} >"$src/debian/changelog.new" &&
			mv "$src/debian/changelog.new" "$src/debian/changelog" || return 1
	fi
	(cd "$src" && DEB_BUILD_OPTIONS=nocheck nice dpkg-buildpackage -b -us -uc) \
	    >"$SYS_LOG/dpkg-buildpackage-$1.log" 2>&1 || return 1
	mv "$SYS_WORK"/sovran-provisioner*.deb "$SYS_WORK"/sovran-provisioner*.changes \
	    "$SYS_WORK"/sovran-provisioner*.buildinfo "$SYS_WORK/$1-debs/" 2>/dev/null
	ls "$SYS_WORK/$1-debs"/sovran-provisioner_*.deb | head -n 1
}

# sys_install_project NAME [newer]: builds the project (the package, else
# the guide's source build) and installs it into the root; the container
# may be running (an upgrade) or not (the first install).
sys_install_project() {
	local deb dir
	if sys_deb_tree; then
		deb=$(sys_build_deb "$@") || return 1
		# /var/tmp: nspawn mounts a fresh /tmp over the root's.
		cp "$deb" "$SYS_ROOT/var/tmp/" || return 1
		if [[ -f $SYS_WORK/leader.pid ]]; then
			ct env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
			    -o Dpkg::Options::=--force-confold install "/var/tmp/${deb##*/}"
		else
			sys_chroot_apt "$SYS_ROOT" install "/var/tmp/${deb##*/}"
		fi
		return
	fi
	if [[ ${2-} == newer ]]; then
		sys_build_newer || return 1
		dir="$SYS_WORK/newer"
	else
		sys_build "$1" || return 1
		dir="$SYS_WORK/$1"
	fi
	make -C "$dir" install DESTDIR="$SYS_ROOT" >"$SYS_LOG/install-$1.log" 2>&1
}

# sys_install_standin: the headscale stand-in as headscale's package would
# be: the headscale user and group, /usr/bin/headscale, and a
# headscale.service whose server answers on /var/run/headscale/headscale.sock.
sys_install_standin() {
	local b="$TOP_BUILDDIR/tests/standin"
	chroot "$SYS_ROOT" useradd --system --user-group --home-dir /var/lib/headscale \
	    --no-create-home --shell /usr/sbin/nologin headscale &&
		install -m 0755 "$b/headscale" "$SYS_ROOT/usr/bin/headscale" &&
		install -D -m 0755 "$b/headscale-server" \
		    "$SYS_ROOT/usr/libexec/headscale-standin/headscale-server" &&
		install -m 0644 "$TOP_SRCDIR/tests/system/headscale.service" \
		    "$SYS_ROOT/etc/systemd/system/headscale.service" &&
		install -d -m 0755 "$SYS_ROOT/etc/headscale"
}

# sys_free_port: a loopback TCP port nobody listens on.
sys_free_port() {
	local port tries=0
	while ((tries++ < 50)); do
		port=$((33000 + (RANDOM * 32768 + RANDOM) % 9000))
		if [[ -z $(ss -ltnH "sport = :$port") ]]; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# sys_guide_steps PORT HSPORT: the guide's "Server setup on Debian", steps
# 2 to 7, inside the root before it boots. The differences, all forced by
# a test on a shared machine: Caddy serves the two sites as plain HTTP on
# loopback ports instead of names with certificates, with its admin
# endpoint off; and the firewall is checked with nft -c and loaded into a
# network namespace of its own, never into the host's, which the container
# shares (nftables.conf begins with "flush ruleset").
sys_guide_steps() {
	local port=$1 hsport=$2 examples=/usr/share/doc/sovran-provisioner/examples
	# 2. (the user and its headscale group, for a source build)
	chroot "$SYS_ROOT" systemd-sysusers || return 1
	# 3. Headscale's configuration and policy.
	chroot "$SYS_ROOT" sh -euc "
		cd $examples
		sed -e 's|@HEADSCALE_DOMAIN@|hs.example.net|g' \
		    -e 's|@BASE_DOMAIN@|tailnet.example.net|g' \
		    config.yaml.in > /etc/headscale/config.yaml
		sed -e 's|@HEADSCALE_USER@|sovran-deploy|g' -e 's|@ADMIN_USER@|admin|g' \
		    acl.hujson.in > /etc/headscale/acl.hujson" || return 1
	# 4. The provisioner's environment.
	chroot "$SYS_ROOT" sh -euc "
		install -d /etc/sovran-provisioner
		install -m 0644 $examples/environment /etc/sovran-provisioner/environment
		sed -i 's|^HEADSCALE_URL=.*|HEADSCALE_URL=https://hs.example.net|' \
		    /etc/sovran-provisioner/environment" || return 1
	# 5. Caddy.
	chroot "$SYS_ROOT" sh -euc "
		install -m 0644 $examples/Caddyfile /etc/caddy/Caddyfile
		mkdir -p /etc/systemd/system/caddy.service.d
		printf '[Service]\nEnvironment=HEADSCALE_DOMAIN=%s\nEnvironment=PROVISIONER_DOMAIN=%s\n' \
		    http://127.0.0.1:$hsport http://127.0.0.1:$port \
		    > /etc/systemd/system/caddy.service.d/sovran-provisioner.conf
		sed -i 's|^\tadmin 127.0.0.1:2019\$|\tadmin off\n\tdefault_bind 127.0.0.1|' \
		    /etc/caddy/Caddyfile
		grep -q '^	default_bind 127.0.0.1\$' /etc/caddy/Caddyfile" || return 1
	# 6. Firewall: installed; checked and loaded below (sys_firewall).
	install -m 0644 "$SYS_ROOT$examples/nftables.conf" "$SYS_ROOT/etc/nftables.conf" &&
		chroot "$SYS_ROOT" systemctl mask nftables.service 2>/dev/null || return 1
	# 7. Everything enabled, to start at boot.
	chroot "$SYS_ROOT" sh -euc '
		cd /usr/lib/systemd/system
		systemctl enable headscale.service sovran-provisioner-bootstrap.service \
		    caddy.service sovran-provisioner-*.socket' 2>&1
}

# sys_firewall: the guide's nft -c and the rules loaded, both in a private
# network namespace (nothing reaches the host's), then listed. Prints the ruleset; 77 when this kernel
# has no nf_tables.
sys_firewall() {
	if ! unshare --net nft list ruleset >/dev/null 2>&1; then
		return 77
	fi
	unshare --net chroot "$SYS_ROOT" sh -ec \
	    'nft -c -f /etc/nftables.conf; nft -f /etc/nftables.conf; nft list ruleset'
}
