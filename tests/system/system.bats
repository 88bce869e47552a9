#!/usr/bin/env bats
# system.bats: the Debian package on a booted Debian 12 under real systemd.
#
# setup_file unpacks the cached root (tests/packaging/mkroot.sh), puts a
# headscale stand-in in it that is reached like headscale (hs-relay.c: a
# socket in /run/headscale that only the headscale group may use),
# installs the package with dpkg as apt would, performs the guide's Debian
# steps (the environment's HEADSCALE_URL, the shipped Caddyfile with the
# two names in Caddy's unit environment; here on free loopback ports, since
# the container shares the host's network), and boots it with
# systemd-nspawn.
# The tests then talk to it through Caddy from the host and look inside
# with nsenter. The container is stopped by its PID: SIGTERM, then a wait.
#
# Not covered: the nftables rules (nftables is not in the root, and the
# shared network namespace is the host's own).
#
# Run with `make check TESTS=tests/system/system.bats` (test-all.sh stage
# "system"); needs root and systemd-nspawn, and skips with the reason where
# they are missing or a container cannot boot.

# shellcheck disable=SC2016 # dpkg-query's ${Field} formats, literally
bats_require_minimum_version 1.5.0
load ../packaging/skip
load ../integration/helper

# cin COMMAND...: runs COMMAND inside the booted container.
cin() {
	nsenter -t "$(cat "$W/leader")" -m -u -i -p -C -- "$@"
}

booted() {
	local state
	state=$(cin systemctl is-system-running --wait 2>/dev/null)
	[[ $state == running || $state == degraded ]]
}

gone() {
	! pid_alive "$1"
}

# leader_of PID: the container's PID 1 under systemd-nspawn PID once it
# runs systemd (nspawn's intermediate child comes and goes first); 2, so
# wait_until gives up, when nspawn has exited.
leader_of() {
	pgrep -P "$1" -x systemd && return 0
	pid_alive "$1" || return 2
	return 1
}

# boot: starts the container and waits until systemd has finished booting.
boot() {
	local pid
	systemd-nspawn -D "$R" -b --register=no --keep-unit --console=passive \
	    </dev/null >>"$W/nspawn.log" 2>&1 3>&- &
	pid=$!
	echo "$pid" >"$W/nspawn.pid"
	wait_until 30 leader_of "$pid" >/dev/null || return 1
	leader_of "$pid" >"$W/leader"
	# Until systemd answers and has finished starting up ("running" or
	# "degraded": which one is a test's business).
	wait_until 120 booted || true
	if [ -n "${STACK_URL:-}" ]; then
		wait_until 30 curl -sf -o /dev/null "$STACK_URL/health" || true
	fi
}

# halt: SIGTERM to systemd-nspawn (the container powers off), then waits.
halt() {
	local pid=
	if [ -f "$W/nspawn.pid" ]; then
		pid=$(cat "$W/nspawn.pid")
	fi
	if [ -n "$pid" ] && pid_alive "$pid"; then
		kill -TERM "$pid"
		wait_until 60 gone "$pid" || return 1
	fi
	rm -f "$W/nspawn.pid" "$W/leader"
}

# api METHOD PATH [curl args...]: a request through Caddy with the
# container's enrollment token, read from the root into a private header
# file so it is never on a command line.
api() {
	local hdr="$W/auth-header"
	(umask 077 && printf 'Authorization: Bearer %s\n' \
	    "$(cat "$R/var/lib/sovran-provisioner/enroll-token")" >"$hdr")
	http "$1" "$2" -H @"$hdr" "${@:3}"
}

# exposure_max: each provisioner unit and the highest "Overall exposure
# level" systemd-analyze security (systemd 252) may give it: today's.
exposure_max() {
	cat <<-EOF
	sovran-provisioner-health.service 1.4
	sovran-provisioner-register.service 1.4
	sovran-provisioner-machines.service 1.4
	sovran-provisioner-bootstrap.service 2.2
	EOF
}

setup_file() {
	if [ "$(id -u)" -ne 0 ]; then
		cannot "needs root (systemd-nspawn, chroot)"
		return 0
	fi
	for tool in systemd-nspawn nsenter debootstrap dpkg-buildpackage; do
		if ! command -v "$tool" >/dev/null; then
			cannot "$tool is not installed"
			return 0
		fi
	done
	export W=$BATS_FILE_TMPDIR R="$BATS_FILE_TMPDIR/root"

	build="$TOP_SRCDIR/tests/packaging/build-deb.sh"
	"$build" "$TOP_SRCDIR" "$TOP_BUILDDIR" "$W/debs"
	"$build" "$TOP_SRCDIR" "$TOP_BUILDDIR" "$W/debs" 99
	DEB1=$(find "$W/debs" -maxdepth 1 -name 'sovran-provisioner_*.deb')
	DEB2=$(find "$W/debs/99" -maxdepth 1 -name 'sovran-provisioner_*.deb')
	export DEB1 DEB2

	tarball="$TOP_BUILDDIR/system-root.tar.gz"
	"$TOP_SRCDIR/tests/packaging/mkroot.sh" "$tarball"
	mkdir "$R"
	tar -C "$R" --numeric-owner -xzf "$tarball"

	# Headscale first, as the guide says: the stand-in, its user, its
	# socket directory and its socket unit.
	sys="$TOP_SRCDIR/tests/system"
	lib="$R/usr/libexec/headscale-standin"
	install -D -m 0755 "$TOP_BUILDDIR/tests/system/hs-relay" "$lib/hs-relay"
	install -m 0755 "$HS_STANDIN" "$lib/headscale"
	install -m 0755 "$TOP_BUILDDIR/tests/system/hs-relay" "$R/usr/bin/headscale"
	install -m 0644 "$sys/headscale-standin.sysusers" "$R/usr/lib/sysusers.d/headscale-standin.conf"
	install -m 0644 "$sys/headscale-standin.tmpfiles" "$R/usr/lib/tmpfiles.d/headscale-standin.conf"
	install -m 0644 "$sys/headscale-standin.socket" "$sys/headscale-standin@.service" \
	    "$R/etc/systemd/system/"
	mkdir -p "$R/etc/systemd/system/sockets.target.wants"
	ln -s ../headscale-standin.socket "$R/etc/systemd/system/sockets.target.wants/"
	chroot "$R" systemd-sysusers

	# The package, as apt installs it.
	dpkg --root="$R" --force-unsafe-io -i "$DEB1" >"$W/dpkg.log" 2>&1 || {
		cat "$W/dpkg.log" >&2
		return 1
	}

	# The guide's Debian steps 4 and 5, on loopback ports.
	sed -i 's|^HEADSCALE_URL=.*|HEADSCALE_URL=https://hs.example.net|' \
	    "$R/etc/sovran-provisioner/environment"
	port=$(free_port)
	# shellcheck disable=SC2016 # Caddy's {$VAR} placeholders, literally
	sed -e 's|^\tadmin 127.0.0.1:2019|\tadmin off|' \
	    -e 's|^{\$PROVISIONER_DOMAIN} {|&\n\tbind 127.0.0.1|' \
	    -e 's|^{\$HEADSCALE_DOMAIN} {|&\n\tbind 127.0.0.1|' \
	    "$R/usr/share/doc/sovran-provisioner/examples/Caddyfile" >"$R/etc/caddy/Caddyfile"
	mkdir -p "$R/etc/systemd/system/caddy.service.d"
	printf '[Service]\nEnvironment=HEADSCALE_DOMAIN=http://127.0.0.1:%s\nEnvironment=PROVISIONER_DOMAIN=http://127.0.0.1:%s\n' \
	    "$(free_port)" "$port" >"$R/etc/systemd/system/caddy.service.d/sovran-provisioner.conf"
	export STACK_URL="http://127.0.0.1:$port"

	# A container that never got its systemd going cannot be tested here.
	if ! boot || ! cin true 2>/dev/null; then
		sed 's/^/# /' "$W/nspawn.log" | tail -n 20 >&3
		halt
		cannot "systemd-nspawn cannot boot a container on this machine: $(tail -n 1 "$W/nspawn.log")"
	fi
}

teardown_file() {
	halt
}

@test "boot: systemd runs with no failed unit" {
	run -0 cin systemctl --failed --no-legend --plain
	[ -z "$output" ] || {
		echo "failed units: $output" >&2
		return 1
	}
	run cin systemctl is-system-running
	[ "$output" = running ]
}

@test "/health through Caddy from the host" {
	http GET /health
	echo "$HTTP_STATUS $HTTP_BODY"
	[ "$HTTP_STATUS" = 200 ]
	[ "$HTTP_BODY" = '{"status":"ok"}' ]
}

@test "a registration with the container's token; /machines lists it" {
	api POST /register -H 'Content-Type: application/json' \
	    --data-binary "$(register_body node-1 52:54:00:12:34:56)"
	echo "$HTTP_STATUS $HTTP_BODY"
	[ "$HTTP_STATUS" = 200 ]
	jq -e '.headscale_key | startswith("hskey-auth-")' <<<"$HTTP_BODY"
	api GET /machines
	[ "$HTTP_STATUS" = 200 ]
	jq -e 'map(select(.hostname == "node-1" and .mac == "52:54:00:12:34:56")) | length == 1' <<<"$HTTP_BODY"
}

# owned PATH WANT: PATH in the container is "owner:group mode type" WANT.
owned() {
	local have
	have=$(cin stat -c '%U:%G %a %F' "$1")
	[ "$have" = "$2" ] || {
		echo "$1 is $have, want $2" >&2
		return 1
	}
}

@test "sockets: listening, owned sovran-provisioner:caddy, mode 0660" {
	for e in health register machines; do
		run -0 cin systemctl is-active "sovran-provisioner-$e.socket"
		owned "/run/sovran-provisioner/$e.sock" "sovran-provisioner:caddy 660 socket"
	done
}

@test "data directory and token: owner and modes as documented" {
	d=/var/lib/sovran-provisioner
	owned "$d" "sovran-provisioner:sovran-provisioner 750 directory"
	owned "$d/enroll-token" "sovran-provisioner:sovran-provisioner 600 regular file"
	owned "$d/provisioner.db" "sovran-provisioner:sovran-provisioner 600 regular file"
}

@test "systemd-analyze security: no unit more exposed than now" {
	checked=0
	while read -r unit max; do
		run -0 cin systemd-analyze security --no-pager "$unit" </dev/null
		score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$output")
		echo "# $unit: exposure $score (at most $max)" >&3
		[ -n "$score" ]
		awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || {
			echo "$unit: exposure $score, more than $max" >&2
			return 1
		}
		checked=$((checked + 1))
	done < <(exposure_max)
	[ "$checked" -eq 4 ]
}

@test "headscale's socket: the headscale group gets in, others get the FTL line" {
	run -0 cin runuser -u sovran-provisioner -- headscale users list -o json
	jq -e 'map(.name) | index("sovran-deploy") != null' <<<"$output"
	run -1 cin runuser -u nobody -- headscale users list -o json
	grep -q ' FTL Unable to read/write to headscale socket, do you have the correct permissions?' <<<"$output"
}

@test "reboot: data intact, bootstrap changes nothing, sockets back" {
	sum=$(sha256sum <"$R/var/lib/sovran-provisioner/enroll-token")
	halt
	boot
	[ "$(sha256sum <"$R/var/lib/sovran-provisioner/enroll-token")" = "$sum" ]
	run -0 cin systemctl --failed --no-legend --plain
	[ -z "$output" ]
	run -0 cin journalctl -b -o cat --no-pager -u sovran-provisioner-bootstrap.service
	echo "$output"
	grep -q 'ready' <<<"$output"
	! grep -q 'created' <<<"$output" || return 1
	for e in health register machines; do
		run -0 cin systemctl is-active "sovran-provisioner-$e.socket"
	done
	api GET /machines
	[ "$HTTP_STATUS" = 200 ]
	jq -e 'map(select(.hostname == "node-1")) | length == 1' <<<"$HTTP_BODY"
}

@test "upgrade in place: rows kept, schema as it was, programs restarted" {
	api GET /machines
	[ "$HTTP_STATUS" = 200 ]
	before=$(cin systemctl show -P InvocationID sovran-provisioner-machines.service)
	[ -n "$before" ]
	db="$R/var/lib/sovran-provisioner/provisioner.db"
	schema=$(sqlite3 "file:$db?mode=ro" 'PRAGMA user_version')

	cp "$DEB2" "$R/var/tmp/upgrade.deb"
	run -0 cin dpkg --force-confold -i /var/tmp/upgrade.deb
	echo "$output"
	run -0 cin dpkg-query -W -f '${Version}' sovran-provisioner
	[[ $output == *-99 ]]
	after=$(cin systemctl show -P InvocationID sovran-provisioner-machines.service)
	[ -n "$after" ] && [ "$after" != "$before" ] || {
		echo "sovran-provisioner-machines.service was not restarted" >&2
		return 1
	}
	api GET /machines
	[ "$HTTP_STATUS" = 200 ]
	jq -e 'map(select(.hostname == "node-1")) | length == 1' <<<"$HTTP_BODY"
	[ "$(sqlite3 "file:$db?mode=ro" 'PRAGMA user_version')" = "$schema" ]
	run -0 cin systemctl --failed --no-legend --plain
	[ -z "$output" ]
}

@test "remove stops everything and keeps the data; purge deletes it" {
	run -0 cin dpkg -r sovran-provisioner
	echo "$output"
	for u in sovran-provisioner-{health,register,machines}.{socket,service} \
	    sovran-provisioner-bootstrap.service; do
		run cin systemctl is-active "$u"
		[ "$output" = inactive ] || {
			echo "$u is $output after remove" >&2
			return 1
		}
	done
	run -0 cin test -f /var/lib/sovran-provisioner/enroll-token
	run -0 cin dpkg -P sovran-provisioner
	run -1 cin test -e /var/lib/sovran-provisioner
	run -1 cin test -e /etc/sovran-provisioner
	run -0 cin systemctl --failed --no-legend --plain
	[ -z "$output" ]
}
