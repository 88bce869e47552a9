#!/usr/bin/env bats
# client-10-files.bats: the client's files are well-formed. The scripts are
# POSIX sh that ShellCheck passes, the units pass systemd-analyze verify,
# the NixOS snippets parse, and the built units name the installed scripts.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

setup() {
	CLIENT="$TOP_SRCDIR/client"
}

@test "the scripts are POSIX sh and shellcheck-clean" {
	local script
	for script in sovran-auto-provision deploy-tailscale-connect; do
		run -0 head -n 1 "$CLIENT/$script"
		assert_output '#!/bin/sh'
		[[ -x $CLIENT/$script ]] || fail "$script is not executable"
		run "${SHELLCHECK:-shellcheck}" --shell=sh --severity=style "$CLIENT/$script"
		assert_success
		assert_output ''
	done
}

@test "the units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
	local unit dir="$BATS_TEST_TMPDIR/units"
	mkdir -p "$dir"
	for unit in sovran-auto-provision deploy-tailscale-connect; do
		sed "s|@sbindir@|$CLIENT|" "$CLIENT/$unit.service.in" \
		    >"$dir/$unit.service"
	done
	# Unknown keys are only warnings, so any output at all is a failure.
	run --separate-stderr systemd-analyze verify --man=no \
	    "$dir/sovran-auto-provision.service" \
	    "$dir/deploy-tailscale-connect.service"
	assert_success
	# shellcheck disable=SC2154 # set by run --separate-stderr
	assert_equal "$stderr" ''
	assert_output ''
}

@test "the units are oneshot and never restart on a permanent error" {
	run -0 grep -x 'RestartPreventExitStatus=1 2 4 5' \
	    "$CLIENT/sovran-auto-provision.service.in"
	run -0 grep -x 'RestartPreventExitStatus=1' \
	    "$CLIENT/deploy-tailscale-connect.service.in"
	local unit
	for unit in sovran-auto-provision deploy-tailscale-connect; do
		run -0 grep -x 'Type=oneshot' "$CLIENT/$unit.service.in"
		run -0 grep -x 'After=network-online.target tailscaled.service' \
		    "$CLIENT/$unit.service.in"
	done
}

@test "the built units name the installed scripts" {
	local unit
	for unit in sovran-auto-provision deploy-tailscale-connect; do
		run -0 grep -c -E "^ExecStart=/([^@ ]*/)?sbin/$unit\$" \
		    "$TOP_BUILDDIR/client/$unit.service"
		assert_output 1
	done
}

@test "the NixOS snippets parse" {
	command -v nix-instantiate >/dev/null || skip "nix-instantiate not installed"
	local f
	for f in package iso installed; do
		NIX_CONFIG='build-users-group =' \
		    run -0 nix-instantiate --parse "$CLIENT/nix/$f.nix"
	done
}
