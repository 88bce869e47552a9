#!/usr/bin/env bats
# deploy-units.bats: the systemd units as "make install" puts them: they
# name installed executables, systemd-analyze verifies them without a
# warning, and they carry the socket permissions, ordering, single state
# directory owner and hardening the deployment relies on.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

ENDPOINTS=(health register machines metrics)

setup_file() {
	export ROOT="$BATS_FILE_TMPDIR/root"
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    make -s -C "$TOP_BUILDDIR" install DESTDIR="$ROOT" >/dev/null
	UNITDIR=$(dirname "$(find "$ROOT" -name sovran-provisioner-bootstrap.service)")
	export UNITDIR
}

# unit NAME: the installed unit file.
unit() {
	printf '%s/%s\n' "$UNITDIR" "$1"
}

# verify_root: makes $ROOT a tree systemd-analyze --root can load the units
# from: they go where systemd looks (whatever the configured unit
# directory), the executables they name stay in the install tree, and the
# standard targets they refer to come from the host. Leaves the cwd there.
verify_root() {
	mkdir -p "$ROOT/etc/systemd/system" "$ROOT/lib/systemd"
	cp "$UNITDIR"/sovran-provisioner-* "$ROOT/etc/systemd/system/"
	[[ -d $ROOT/lib/systemd/system ]] || cp -a /lib/systemd/system "$ROOT/lib/systemd/"
	cd "$ROOT" || return
}

# value FILE KEY: every value of KEY= in FILE, one per line.
value() {
	sed -n "s/^$2=//p" "$1"
}

@test "seven units, the sysusers entry and the example environment are installed" {
	for e in "${ENDPOINTS[@]}"; do
		[[ -f $(unit "sovran-provisioner-$e.socket") ]]
		[[ -f $(unit "sovran-provisioner-$e.service") ]]
	done
	[[ -f $(unit sovran-provisioner-bootstrap.service) ]]
	run -0 find "$ROOT" -path '*/sysusers.d/sovran-provisioner.conf'
	run -0 find "$ROOT" -path '*/examples/environment'
	run -1 grep -rl '@[a-z_]*@' "$UNITDIR"
}

@test "every ExecStart names an installed executable" {
	for f in "$UNITDIR"/sovran-provisioner-*.service; do
		exe=$(value "$f" ExecStart | cut -d' ' -f1)
		[[ -x $ROOT$exe ]] || fail "$f: $exe not installed"
	done
	run -0 value "$(unit sovran-provisioner-register.service)" ExecStart
	assert_output --regexp '/register --workers 2$'
}

@test "systemd-analyze verify finds nothing to complain about" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	verify_root
	run -0 systemd-analyze verify --root="$ROOT" etc/systemd/system/sovran-provisioner-*
	assert_output ""
}

@test "sockets: 0660 for Caddy only, in a directory Caddy can traverse" {
	for e in "${ENDPOINTS[@]}"; do
		f=$(unit "sovran-provisioner-$e.socket")
		run -0 value "$f" ListenStream
		assert_output "/run/sovran-provisioner/$e.sock"
		run -0 sh -c "grep -E '^(SocketUser|SocketGroup|SocketMode|DirectoryMode|Accept)=' '$f' | sort | tr '\n' ' '"
		assert_output "Accept=no DirectoryMode=0755 SocketGroup=caddy SocketMode=0660 SocketUser=sovran-provisioner "
	done
}

@test "endpoints: socket on stdin, logs to the journal, ordered after the bootstrap" {
	for e in "${ENDPOINTS[@]}"; do
		f=$(unit "sovran-provisioner-$e.service")
		run -0 sh -c "grep -E '^(StandardInput|StandardOutput|StandardError|User|Group|SupplementaryGroups|EnvironmentFile)=' '$f' | sort | tr '\n' ' '"
		assert_output --regexp "^EnvironmentFile=/.*/sovran-provisioner/environment Group=sovran-provisioner StandardError=journal StandardInput=socket StandardOutput=journal SupplementaryGroups=headscale User=sovran-provisioner $"
		run -0 value "$f" Requires
		assert_output "sovran-provisioner-$e.socket sovran-provisioner-bootstrap.service"
		run -0 value "$f" After
		assert_output "sovran-provisioner-$e.socket sovran-provisioner-bootstrap.service"
	done
	f=$(unit sovran-provisioner-bootstrap.service)
	run -0 sh -c "grep -E '^(Type|RemainAfterExit|Wants|After|Before|WantedBy)=' '$f' | sort | tr '\n' ' '"
	assert_output "After=headscale.service Before=sovran-provisioner-health.service sovran-provisioner-register.service sovran-provisioner-machines.service sovran-provisioner-metrics.service RemainAfterExit=yes Type=oneshot WantedBy=multi-user.target Wants=headscale.service "
}

@test "one owner for the data directory: no StateDirectory, write access to it alone" {
	env=$(find "$ROOT" -path '*/examples/environment')
	data=$(value "$env" PROVISIONER_DATA_DIR)
	[[ $data == /var/lib/sovran-provisioner ]]
	run -1 grep -l '^StateDirectory' "$UNITDIR"/sovran-provisioner-*
	for e in "${ENDPOINTS[@]}"; do
		run -0 value "$(unit "sovran-provisioner-$e.service")" ReadWritePaths
		assert_output "$data"
	done
}

@test "endpoints carry the full hardening set" {
	want="CapabilityBoundingSet= LockPersonality=yes MemoryDenyWriteExecute=yes NoNewPrivileges=yes PrivateDevices=yes PrivateTmp=yes ProtectClock=yes ProtectControlGroups=yes ProtectHome=yes ProtectHostname=yes ProtectKernelLogs=yes ProtectKernelModules=yes ProtectKernelTunables=yes ProtectSystem=strict RestrictAddressFamilies=AF_UNIX RestrictNamespaces=yes RestrictRealtime=yes RestrictSUIDSGID=yes SystemCallArchitectures=native SystemCallFilter=@system-service UMask=0077"
	for e in "${ENDPOINTS[@]}"; do
		f=$(unit "sovran-provisioner-$e.service")
		got=""
		for kv in $want; do
			grep -qx -- "$kv" "$f" && got+="$kv "
		done
		assert_equal "${got% }" "$want"
	done
}

@test "systemd-analyze security rates the endpoints OK or better" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	systemd-analyze security --help 2>&1 | grep -q -- --offline ||
	    skip "this systemd-analyze has no offline security check"
	verify_root
	for e in "${ENDPOINTS[@]}"; do
		run -0 systemd-analyze security --offline=yes --root="$ROOT" \
		    --threshold=30 "etc/systemd/system/sovran-provisioner-$e.service"
		assert_line --regexp '→ Overall exposure level for .*: [0-2]\.[0-9] (SAFE|OK)'
	done
}
