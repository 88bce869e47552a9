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

# nix_eval ARGS...: nix-instantiate --eval without a store to write to;
# the JSON result is $output.
nix_eval() {
	command -v nix-instantiate >/dev/null || skip "nix-instantiate not installed"
	NIX_CONFIG='build-users-group =' run -0 nix-instantiate --readonly-mode \
	    --eval --strict --json "$@"
}

# snippet FILE SET: evaluates client/nix/FILE with the option values SET
# (a Nix attribute set) against a stub of the few nixpkgs functions the
# snippets call, and placeholder store paths for packages. $output is
# the snippet's config as JSON.
snippet() {
	cat >"$BATS_TEST_TMPDIR/eval.nix" <<-'EOF'
		{ module, set }:
		let
		  lib = {
		    mkOption = o: o;
		    mkEnableOption = what: { default = false; };
		    types = {
		      str = "str";
		      nullOr = t: t;
		      strMatching = re: { inherit re; };
		      ints.positive = "positive";
		    };
		    mkIf = cond: value: if cond then value else { };
		    mkMerge = builtins.foldl' (a: b:
		      let m = x: y: if builtins.isAttrs x && builtins.isAttrs y
		        then x // builtins.mapAttrs (n: v: if x ? ${n} then m x.${n} v else v) y
		        else y;
		      in m a b) { };
		    mkRenamedOptionModule = from: to: { };
		    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
		    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
		    stringAfter = deps: text: { inherit deps text; };
		  };
		  store = name: "/nix/store/00000000000000000000000000000000-${name}";
		  pkgs = {
		    callPackage = path: args: store "sovran-provisioner-client";
		    coreutils = store "coreutils";
		    curl = store "curl";
		    jq = store "jq";
		    gnused = store "gnused";
		    gnugrep = store "gnugrep";
		  };
		  opts = (import module { config = { }; inherit lib pkgs; }).options.sovran;
		  group = builtins.head (builtins.attrNames opts);
		  config = {
		    sovran.${group} = builtins.mapAttrs (n: o: o.default or null) opts.${group} // set;
		    services.tailscale.package = store "tailscale";
		  };
		in
		(import module { inherit config lib pkgs; }).config
	EOF
	nix_eval "$BATS_TEST_TMPDIR/eval.nix" --arg module "$CLIENT/nix/$1" \
	    --arg set "$2"
}

@test "the scripts are POSIX sh and shellcheck-clean" {
	local script
	for script in sovran-auto-provision deploy-tailscale-connect sovran-deploy-mode; do
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
	for unit in sovran-auto-provision deploy-tailscale-connect sovran-deploy-mode; do
		sed "s|@sbindir@|$CLIENT|" "$CLIENT/$unit.service.in" \
		    >"$dir/$unit.service"
	done
	cp "$CLIENT/sovran-deploy-mode.timer" "$dir/"
	# Unknown keys are only warnings, so any output at all is a failure.
	run --separate-stderr systemd-analyze verify --man=no \
	    "$dir/sovran-auto-provision.service" \
	    "$dir/deploy-tailscale-connect.service" \
	    "$dir/sovran-deploy-mode.service" "$dir/sovran-deploy-mode.timer"
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
	for unit in sovran-auto-provision deploy-tailscale-connect sovran-deploy-mode; do
		run -0 grep -c -E "^ExecStart=/([^@ ]*/)?sbin/$unit( refresh)?\$" \
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

@test "iso.nix: the token is copied at boot from outside the store, 0600" {
	snippet iso.nix '{ enable = true; provisionerUrl = "https://prov.example.net"; }'
	jq -e '.assertions | all(.assertion)' <<<"$output"
	jq -e '.services.tailscale.enable' <<<"$output"
	assert_equal "$(jq -r '.environment.etc["sovran/provisioner-url"].text' \
	    <<<"$output")" https://prov.example.net
	# Never an /etc entry (that would be a store path), only the copy.
	jq -e '.environment.etc | has("sovran/enroll-token") | not' <<<"$output"
	run -0 jq -r '.system.activationScripts.sovranEnrollToken.text' \
	    <<<"$output"
	assert_output --partial "-m 0600 -o root -g root"
	assert_output --partial "'/iso/sovran/enroll-token' /etc/sovran/enroll-token"
	snippet iso.nix '{ enable = true; enrollTokenFile = "/nix/store/x-token"; }'
	jq -e '.assertions | any(.assertion | not)' <<<"$output"
}

@test "the snippets' units get every tool the scripts run" {
	local tools
	snippet iso.nix '{ enable = true; }'
	tools=$(jq -r '.systemd.services["sovran-auto-provision"].path[]' \
	    <<<"$output" | sed 's/.*-//' | sort | tr '\n' ' ')
	assert_equal "$tools" "coreutils curl gnused jq tailscale "
	snippet installed.nix '{ enable = true; headscaleServer = "https://hs.example.net"; }'
	tools=$(jq -r '.systemd.services["deploy-tailscale-connect"].path[]' \
	    <<<"$output" | sed 's/.*-//' | sort | tr '\n' ' ')
	assert_equal "$tools" "coreutils gnused jq tailscale "
	tools=$(jq -r '.systemd.services["sovran-deploy-mode"].path[]' \
	    <<<"$output" | sed 's/.*-//' | sort | tr '\n' ' ')
	assert_equal "$tools" "coreutils gnugrep tailscale "
	assert_equal "$(jq -r '.environment.etc["sovran/headscale-server"].text' \
	    <<<"$output")" https://hs.example.net
}

@test "package.nix installs both scripts and units that name them" {
	local out="$BATS_TEST_TMPDIR/out" script
	nix_eval -E "import $CLIENT/nix/package.nix {
	    runCommand = name: env: script: script; }"
	# The build script, run with this tree where the store copy would be.
	jq -r . <<<"$output" | sed -e "s|/nix/store/[a-z0-9]*-client|$CLIENT|g" \
	    -e "s|/nix/store/[a-z0-9]*-\(sovran-deploy-mode.8\)|$TOP_SRCDIR/docs/man/\1|g" \
	    >"$BATS_TEST_TMPDIR/build.sh"
	(
		set -e
		export out
		# shellcheck disable=SC2317 # called by the sourced build script
		substituteInPlace() {
			[[ $2 == --replace-fail ]]
			grep -qF "$3" "$1"
			sed -i "s|$3|$4|g" "$1"
		}
		# shellcheck disable=SC2317
		patchShebangs() { :; }
		# shellcheck source=/dev/null
		. "$BATS_TEST_TMPDIR/build.sh"
	)
	[[ -f $out/share/man/man8/sovran-deploy-mode.8 &&
	    -f $out/lib/systemd/system/sovran-deploy-mode.timer ]] ||
	    fail "sovran-deploy-mode's manual page or timer not installed"
	run -1 grep -n '@[A-Za-z_]*@' "$out/share/man/man8/sovran-deploy-mode.8"
	for script in sovran-auto-provision deploy-tailscale-connect sovran-deploy-mode; do
		[[ -x $out/bin/$script ]] || fail "$script not installed"
		run -0 grep -x -E "ExecStart=$out/bin/$script( refresh)?" \
		    "$out/lib/systemd/system/$script.service"
	done
	command -v systemd-analyze >/dev/null || return 0
	run systemd-analyze verify --man=no "$out"/lib/systemd/system/*.service
	assert_success
	assert_output ''
}
