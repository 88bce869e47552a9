#!/usr/bin/env bats
#
# client-40-deploy-mode.bats: sovran-deploy-mode on scratch paths, with the
# tailscale stand-in and a clock set by faketime. While deploy mode is
# active the deployer's key is in the file sshd reads for root; `off` or
# the deadline takes it away, deletes the auth key and leaves the tailnet;
# the state says so under the run directory; and a reboot (the run
# directory emptied, the boot unit's `refresh` run again) neither extends
# nor revives it.
#
# Where sshd is installed and the suite runs as root, a real sshd on
# loopback, configured as the NixOS module configures it, shows the key
# let in while active, passwords never offered, and the key refused after.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helper

MODE="$TOP_SRCDIR/client/sovran-deploy-mode"
CONNECT="$TOP_SRCDIR/client/deploy-tailscale-connect"
T0=1775948400	# 2026-04-11T23:00:00Z

setup() {
	FAKETIME=$(command -v faketime) || skip "faketime is not installed"
	S="$BATS_TEST_TMPDIR"
	export SOVRAN_DEPLOY_STATE_DIR="$S/var/lib/sovran/deploy-mode"
	export SOVRAN_DEPLOY_RUN_DIR="$S/run/sovran"
	export SOVRAN_DEPLOY_KEY_FILE="$S/etc/sovran/deploy-key.pub"
	export SOVRAN_AUTHKEY_FILE="$S/var/lib/secrets/headscale-authkey"
	export TAILSCALE_STANDIN_DIR="$S/tailscaled"
	mkdir -p "$S/etc/sovran" "$S/var/lib/secrets" "$TAILSCALE_STANDIN_DIR"
	ssh-keygen -q -t ed25519 -N '' -C deployer -f "$S/deployer"
	cp "$S/deployer.pub" "$SOVRAN_DEPLOY_KEY_FILE"
	(umask 077 && echo hskey-auth-used-long-ago >"$SOVRAN_AUTHKEY_FILE")
	# The machine is on the tailnet, as deploy-tailscale-connect left it.
	echo Running >"$TAILSCALE_STANDIN_DIR/state"
	echo 100.64.0.9 >"$TAILSCALE_STANDIN_DIR/ip"
	echo https://hs.example.net >"$TAILSCALE_STANDIN_DIR/login-server"
	client_bin "$S/bin" sh cat head cut date mkdir chmod mv rm sync \
	    dirname grep
}

teardown() {
	if [[ -n ${SSHD_PID:-} ]]; then
		pid_stop "$SSHD_PID"
	fi
}

# mode AT COMMAND: sovran-deploy-mode COMMAND at Unix time AT, with a PATH
# of the tools it needs and the stand-in tailscale. The clock stands still
# at AT ("@AT" would start it there and let it run, so a slow machine could
# record a later start than the test assumes).
mode() {
	local at=$1
	shift
	run env PATH="$S/bin" TZ=UTC "$FAKETIME" \
	    -f "$(date -u -d "@$at" '+%Y-%m-%d %H:%M:%S')" "$MODE" "$@"
}

# reboot: /run is a tmpfs.
reboot() {
	rm -rf "$S/run"
}

run_state() {
	head -n 1 "$SOVRAN_DEPLOY_RUN_DIR/deploy-mode"
}

assert_granted() {
	run -0 cat "$SOVRAN_DEPLOY_RUN_DIR/deploy-keys/root"
	assert_output "$(cat "$S/deployer.pub")"
	assert_equal "$(run_state)" active
}

# assert_withdrawn STATE: the key, the auth key and the tailnet are gone.
assert_withdrawn() {
	[[ ! -e $SOVRAN_DEPLOY_RUN_DIR/deploy-keys/root ]] || fail "key still there"
	[[ ! -e $SOVRAN_AUTHKEY_FILE ]] || fail "auth key still there"
	run -0 env TAILSCALE_STANDIN_DIR="$TAILSCALE_STANDIN_DIR" \
	    "$TOP_SRCDIR/tests/standin/tailscale" status --json
	run -0 jq -r .BackendState <<<"$output"
	assert_output NeedsLogin
	assert_equal "$(run_state)" "$1"
}

@test "the first refresh begins deploy mode: key in place, state active" {
	mode $T0 status
	assert_failure 3
	assert_output --partial 'has not begun'
	mode $T0 refresh
	assert_success
	assert_output --partial 'deploy mode began; it ends 2026-04-13T23:00:00Z'
	assert_granted
	run -0 stat -c %a "$SOVRAN_DEPLOY_RUN_DIR/deploy-mode" \
	    "$SOVRAN_DEPLOY_RUN_DIR/deploy-keys/root"
	assert_output $'644\n644'
	mode $((T0 + 3600)) status
	assert_success
	assert_output 'active since 2026-04-11T23:00:00Z, until 2026-04-13T23:00:00Z'
	run -0 cat "$SOVRAN_DEPLOY_RUN_DIR/deploy-mode"
	assert_output 'active
started 2026-04-11T23:00:00Z
ends 2026-04-13T23:00:00Z'
}

@test "off withdraws the key, the auth key and the tailnet, for good" {
	mode $T0 refresh
	assert_granted
	mode $((T0 + 600)) off
	assert_success
	assert_withdrawn off
	mode $((T0 + 700)) status
	assert_failure 3
	assert_output 'off since 2026-04-11T23:10:00Z (began 2026-04-11T23:00:00Z)'
	# A reboot, at any later time, does not bring it back.
	reboot
	mode $((T0 + 900)) refresh
	assert_success
	assert_withdrawn off
	# Nor can deploy-tailscale-connect rejoin: its key is gone.
	run -0 env PATH="$S/bin:/usr/bin:/bin" SOVRAN_HEADSCALE_SERVER=https://hs.example.net \
	    "$CONNECT"
	assert_output --partial 'not found'
	run ! grep -q '^up' "$TAILSCALE_STANDIN_DIR/argv.log"
}

@test "the deadline ends it, counted from the first boot, not the last" {
	mode $T0 refresh
	reboot
	mode $((T0 + 47 * 3600)) refresh
	assert_success
	assert_granted
	# Another reboot just before the deadline changes nothing either.
	reboot
	mode $((T0 + 48 * 3600 - 1)) refresh
	assert_granted
	mode $((T0 + 48 * 3600)) refresh
	assert_success
	assert_output --partial 'deploy mode ended (expired)'
	assert_withdrawn expired
	reboot
	mode $((T0 + 49 * 3600)) refresh
	assert_withdrawn expired
	mode $((T0 + 49 * 3600)) status
	assert_failure 3
	assert_output --partial 'expired since 2026-04-13T23:00:00Z'
}

@test "the length is configurable" {
	mode $T0 refresh
	SOVRAN_DEPLOY_HOURS=2 mode $((T0 + 7199)) refresh
	assert_granted
	SOVRAN_DEPLOY_HOURS=2 mode $((T0 + 7200)) refresh
	assert_withdrawn expired
	SOVRAN_DEPLOY_HOURS=0 mode $T0 status
	assert_failure 1
}

@test "a failed logout is retried by the next refresh, and only until it works" {
	mode $T0 refresh
	echo fail >"$TAILSCALE_STANDIN_DIR/fault"
	mode $((T0 + 60)) off
	assert_failure 5
	# The key is gone all the same, and the end is recorded.
	[[ ! -e $SOVRAN_DEPLOY_RUN_DIR/deploy-keys/root ]]
	assert_equal "$(run_state)" off
	rm "$TAILSCALE_STANDIN_DIR/fault"
	mode $((T0 + 120)) refresh
	assert_success
	assert_withdrawn off
	# Later the operator may join some other tailnet: no more logouts.
	echo Running >"$TAILSCALE_STANDIN_DIR/state"
	mode $((T0 + 180)) refresh
	assert_success
	assert_equal "$(grep -c '^logout' "$TAILSCALE_STANDIN_DIR/argv.log")" 2
}

@test "only public key lines reach sshd; no key file means tailnet only" {
	printf '%s\n' 'command="/bin/sh" ssh-ed25519 AAAA x' "$(cat "$S/deployer.pub")" \
	    'not a key' >"$SOVRAN_DEPLOY_KEY_FILE"
	mode $T0 refresh
	assert_granted
	rm "$SOVRAN_DEPLOY_KEY_FILE"
	mode $T0 refresh
	assert_success
	[[ ! -e $SOVRAN_DEPLOY_RUN_DIR/deploy-keys/root ]]
	assert_equal "$(run_state)" active
}

# start_sshd: sshd on a free loopback port with the settings the NixOS
# module gives it (StrictModes off only because the scratch directory is
# under the world-writable /tmp; /run/sovran is root's).
start_sshd() {
	command -v sshd >/dev/null || [[ -x /usr/sbin/sshd ]] ||
	    skip "sshd is not installed"
	[[ $(id -u) -eq 0 ]] || skip "sshd must run as root to log root in"
	[[ -d /run/sshd ]] || mkdir -m 0755 /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$S/hostkey"
	SSHD_PORT=$(free_port)
	cat >"$S/sshd_config" <<-EOF
		ListenAddress 127.0.0.1:$SSHD_PORT
		HostKey $S/hostkey
		PidFile none
		UsePAM no
		StrictModes no
		AuthorizedKeysFile $SOVRAN_DEPLOY_RUN_DIR/deploy-keys/%u
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
	EOF
	"$(command -v sshd || echo /usr/sbin/sshd)" -D -e -f "$S/sshd_config" \
	    2>"$S/sshd.log" &
	SSHD_PID=$!
	wait_until 10 _sshd_up
}

_sshd_up() {
	pid_alive "$SSHD_PID" || return 2
	[[ -n $(ss -ltnH "sport = :$SSHD_PORT") ]]
}

# ssh_root [ssh options]: `ssh root@127.0.0.1 echo in` with nothing from
# the user's own ssh configuration.
ssh_root() {
	run timeout 20 ssh -F /dev/null -p "$SSHD_PORT" -o BatchMode=yes \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o IdentitiesOnly=yes -o LogLevel=ERROR "$@" root@127.0.0.1 echo in
}

@test "sshd: the key logs root in while active, passwords never, nothing after" {
	start_sshd
	mode $T0 refresh
	ssh_root -i "$S/deployer"
	assert_success
	assert_output in
	ssh_root -o PubkeyAuthentication=no \
	    -o PreferredAuthentications=password,keyboard-interactive
	assert_failure
	assert_output --partial 'Permission denied (publickey)'
	mode $((T0 + 48 * 3600)) refresh
	ssh_root -i "$S/deployer"
	assert_failure
	assert_output --partial 'Permission denied (publickey)'
}
