#!/usr/bin/env bats
# deploy-nix-installed.bats: client/nix/installed.nix, evaluated with a stub
# lib (tests/deploy/eval-installed.nix, no nixpkgs needed): a configuration
# written for the Flask-era option names (sovran_systemsOS.deploy.*)
# evaluates, each old name forwarded with a warning naming the new one;
# and deploy mode is wired as sovran-deploy-mode expects: sshd without
# passwords reading root's key from the file the script writes, the boot
# unit and timer, the tailnet only while deploy mode is active.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

MODULE="$TOP_SRCDIR/client/nix/installed.nix"

setup() {
	command -v nix-instantiate >/dev/null ||
	    skip "nix-instantiate (Debian package nix-bin) is not installed"
	export NIX_CONFIG="build-users-group ="
	export NIX_STATE_DIR="$BATS_TEST_TMPDIR/nix-state"
	export HOME="$BATS_TEST_TMPDIR"
}

# evaluate NIX-SET: options, values, warnings and config as JSON on stdout.
evaluate() {
	nix-instantiate --eval --strict --json \
	    "$TOP_SRCDIR/tests/deploy/eval-installed.nix" \
	    --arg module "$MODULE" --arg set "$1" 2>&1 |
	    grep -v "^warning: the group 'nixbld'"
	return "${PIPESTATUS[0]}"
}

KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl deployer'

# What the old installer wrote into custom.nix, plus the key file option.
OLD="{ sovran_systemsOS.deploy = { enable = true; authorizedKey = \"$KEY\";
    headscaleServer = \"https://hs.example.net\";
    headscaleAuthKeyFile = \"/var/lib/secrets/other-key\"; }; }"

@test "the module parses" {
	run -0 nix-instantiate --parse "$MODULE"
}

@test "a configuration with the old option names evaluates, with a warning per name" {
	run -0 evaluate "$OLD"
	json=$output
	run -0 jq -c .values <<<"$json"
	assert_output "{\"authKeyFile\":\"/var/lib/secrets/other-key\",\"authorizedKey\":\"$KEY\",\"deployModeHours\":48,\"enable\":true,\"headscaleServer\":\"https://hs.example.net\"}"
	run -0 jq -r '.warnings[]' <<<"$json"
	assert_output "The option \`sovran_systemsOS.deploy.enable' defined in \`/etc/nixos/configuration.nix' has been renamed to \`sovran.deployConnect.enable'.
The option \`sovran_systemsOS.deploy.authorizedKey' defined in \`/etc/nixos/configuration.nix' has been renamed to \`sovran.deployConnect.authorizedKey'.
The option \`sovran_systemsOS.deploy.headscaleServer' defined in \`/etc/nixos/configuration.nix' has been renamed to \`sovran.deployConnect.headscaleServer'.
The option \`sovran_systemsOS.deploy.headscaleAuthKeyFile' defined in \`/etc/nixos/configuration.nix' has been renamed to \`sovran.deployConnect.authKeyFile'."
	# authorizedKey is back: it reaches the file sovran-deploy-mode reads.
	run -0 jq -r '.config.environment.etc["sovran/deploy-key.pub"].text' <<<"$json"
	assert_output "$KEY"
	run -0 jq -r '.config.systemd.services["deploy-tailscale-connect"].environment.SOVRAN_AUTHKEY_FILE' <<<"$json"
	assert_output /var/lib/secrets/other-key
}

@test "the evaluation refuses option paths no module declares" {
	# So the test above would fail without the renames.
	run -1 evaluate '{ sovran_systemsOS.deploy.relayHost = "relay.example.net"; }'
	assert_output --partial 'does not exist'
	run -1 evaluate '{ sovran.deployConnect.authorizedKeys = [ ]; }'
	assert_output --partial 'does not exist'
}

@test "the old installer's empty server means deploy mode without a tailnet" {
	run -0 evaluate "{ sovran_systemsOS.deploy = { enable = true; authorizedKey = \"$KEY\"; headscaleServer = \"\"; }; }"
	run -0 jq -c '[.config.services.tailscale, .config.systemd.services["deploy-tailscale-connect"],
	    .config.systemd.services["sovran-deploy-mode"].wantedBy]' <<<"$output"
	assert_output '[null,null,["multi-user.target"]]'
}

@test "the new names give no warning; disabled, the module configures nothing" {
	run -0 evaluate '{ sovran.deployConnect = { enable = true; headscaleServer = "https://hs.example.net"; }; }'
	# (The stub turns a false mkIf into {}; NixOS leaves the entry out.)
	run -0 jq -c '[.warnings, (.config.environment.etc["sovran/deploy-key.pub"] // {})]' <<<"$output"
	assert_output '[[],{}]'
	run -0 evaluate '{ sovran_systemsOS.deploy.authorizedKey = "x"; }'
	run -0 jq -c .config <<<"$output"
	assert_output '{}'
}

@test "deploy mode: sshd takes root's key only from the file sovran-deploy-mode writes" {
	run -0 evaluate "$OLD"
	json=$output
	run -0 jq -c .config.services.openssh <<<"$json"
	assert_output '{"authorizedKeysFiles":["/run/sovran/deploy-keys/%u"],"enable":true,"settings":{"KbdInteractiveAuthentication":false,"PasswordAuthentication":false,"PermitRootLogin":"prohibit-password"}}'
	# The script's defaults name the same places.
	run -0 grep -F 'run_dir=${SOVRAN_DEPLOY_RUN_DIR:-/run/sovran}' "$TOP_SRCDIR/client/sovran-deploy-mode"
	run -0 grep -F 'key_file=$keys_dir/root' "$TOP_SRCDIR/client/sovran-deploy-mode"
	run -0 grep -F 'keys_dir=$run_dir/deploy-keys' "$TOP_SRCDIR/client/sovran-deploy-mode"
	run -0 grep -F 'key_src=${SOVRAN_DEPLOY_KEY_FILE:-/etc/sovran/deploy-key.pub}' "$TOP_SRCDIR/client/sovran-deploy-mode"
	# Not in root's declarative keys, which could not be taken away.
	run -0 jq -c '.config.users' <<<"$json"
	assert_output null
}

@test "deploy mode: boot unit, timer, length, and the tailnet only while active" {
	run -0 evaluate "{ sovran.deployConnect = { enable = true; deployModeHours = 12;
	    headscaleServer = \"https://hs.example.net\"; }; }"
	json=$output
	run -0 jq -c '.config.systemd.services["sovran-deploy-mode"] |
	    [.environment.SOVRAN_DEPLOY_HOURS, .wantedBy, .serviceConfig.ReadWritePaths]' <<<"$json"
	assert_output '["12",["multi-user.target"],["-/var/lib/secrets"]]'
	run -0 jq -c '[.config.systemd.packages, .config.systemd.timers["sovran-deploy-mode"]]' <<<"$json"
	assert_output '[["/nix/store/00000000000000000000000000000000-sovran-provisioner-client"],{"wantedBy":["timers.target"]}]'
	# The package's units: refresh at boot, before sshd, and every 5 minutes.
	run -0 grep -x 'ExecStart=@sbindir@/sovran-deploy-mode refresh' \
	    "$TOP_SRCDIR/client/sovran-deploy-mode.service.in"
	run -0 grep -x 'Before=sshd.service ssh.service deploy-tailscale-connect.service' \
	    "$TOP_SRCDIR/client/sovran-deploy-mode.service.in"
	run -0 grep -x 'OnUnitActiveSec=5min' "$TOP_SRCDIR/client/sovran-deploy-mode.timer"
	run -0 jq -r '.config.systemd.services["deploy-tailscale-connect"].serviceConfig.ExecCondition' <<<"$json"
	assert_output '/nix/store/00000000000000000000000000000000-sovran-provisioner-client/bin/sovran-deploy-mode status'
}

@test "values outside an option's type are refused" {
	run -1 evaluate '{ sovran.deployConnect = { enable = true; headscaleServer = "hs.example.net"; }; }'
	assert_output --partial 'headscaleServer'
	run -1 evaluate '{ sovran_systemsOS.deploy = { enable = true; headscaleServer = "ftp://x"; }; }'
	assert_output --partial 'headscaleServer'
	run -1 evaluate '{ sovran.deployConnect = { enable = true; deployModeHours = 0; }; }'
	assert_output --partial 'deployModeHours'
}
