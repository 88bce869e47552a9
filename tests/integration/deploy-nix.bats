#!/usr/bin/env bats
# deploy-nix.bats: nix/package.nix and nix/sovran-provisioner.nix parse,
# and the module, evaluated with a stub lib (tests/deploy/eval-module.nix,
# no nixpkgs needed), has the documented options and defaults, honours
# stateDir everywhere, produces a Headscale config that passes the same
# checks as headscale/config.yaml.in and matches it, and a Caddy
# configuration with the same routes as caddy/Caddyfile.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

MODULE="$TOP_SRCDIR/nix/sovran-provisioner.nix"
PACKAGE="$TOP_SRCDIR/nix/package.nix"

setup() {
	command -v nix-instantiate >/dev/null ||
	    skip "nix-instantiate (Debian package nix-bin) is not installed"
	# Debian's nix-bin defaults to a build-users group that need not
	# exist; nothing here builds, so do not ask for one.
	export NIX_CONFIG="build-users-group ="
	export NIX_STATE_DIR="$BATS_TEST_TMPDIR/nix-state"
	export HOME="$BATS_TEST_TMPDIR"
}

# evaluate NIX-SET: the module's options and config as JSON on stdout.
evaluate() {
	nix-instantiate --eval --strict --json \
	    "$TOP_SRCDIR/tests/deploy/eval-module.nix" \
	    --arg module "$MODULE" --arg set "$1"
}

DOMAINS='enable = true; domain = "prov.example.org"; headscaleDomain = "hs.example.org";'

@test "both files parse" {
	run -0 nix-instantiate --parse "$MODULE"
	run -0 nix-instantiate --parse "$PACKAGE"
}

@test "options and defaults are the documented ones" {
	json=$(evaluate "{ }")
	run -0 jq -c '.options | del(.package)' <<<"$json"
	assert_output '{"adminUser":"admin","baseDomain":"sovran.tail","domain":null,"enable":false,"headscaleDomain":null,"headscaleUser":"sovran-deploy","keyExpiry":"1h","rateLimitMax":10,"rateLimitWindow":60,"stateDir":"/var/lib/sovran-provisioner"}'
	# Disabled, the module configures nothing.
	run -0 jq -c '.config' <<<"$json"
	assert_output '{}'
}

@test "values outside an option's type are refused" {
	run -1 evaluate "{ $DOMAINS keyExpiry = \"1.5h\"; }"
	assert_output --partial "invalid sovranProvisioner values: keyExpiry"
	run -1 evaluate "{ $DOMAINS stateDir = \"relative/dir\"; }"
	assert_output --partial "stateDir"
	run -1 evaluate "{ $DOMAINS rateLimitMax = 0; }"
	assert_output --partial "rateLimitMax"
}

@test "the assertions hold for two proper domains and catch a parent base domain" {
	run -0 evaluate "{ $DOMAINS }"
	run -0 jq -c '[.config.assertions[].assertion]' <<<"$output"
	assert_output '[true,true]'
	run -0 evaluate "{ $DOMAINS baseDomain = \"example.org\"; }"
	run -0 jq -r '.config.assertions[] | select(.assertion == false) | .message' <<<"$output"
	assert_output --partial "baseDomain must not be headscaleDomain or a parent"
}

@test "a custom stateDir reaches every unit and the environment, the default path nowhere" {
	json=$(evaluate "{ $DOMAINS stateDir = \"/srv/sovran\"; }")
	run -0 jq -c '[.config.systemd.services | to_entries[] |
	    select(.key | test("^sovran-provisioner-(health|register|machines)$")) |
	    .value.serviceConfig.ReadWritePaths]' <<<"$json"
	assert_output '[["","/srv/sovran"],["","/srv/sovran"],["","/srv/sovran"]]'
	run -0 jq -r '.config.environment.etc["sovran-provisioner/environment"].text' <<<"$json"
	assert_line "PROVISIONER_DATA_DIR=/srv/sovran"
	run -1 grep -F /var/lib/sovran-provisioner <<<"$(jq .config <<<"$json")"
}

@test "the environment names headscale by absolute path and carries every option" {
	json=$(evaluate "{ $DOMAINS headscaleUser = \"fleet\"; adminUser = \"ops\"; keyExpiry = \"30m\"; rateLimitMax = 5; rateLimitWindow = 120; }")
	run -0 jq -r '.config.environment.etc["sovran-provisioner/environment"].text' <<<"$json"
	assert_line "HEADSCALE_BIN=/nix/store/00000000000000000000000000000000-headscale/bin/headscale"
	assert_line "HEADSCALE_URL=https://hs.example.org"
	assert_line "HEADSCALE_USER=fleet"
	assert_line "ADMIN_USER=ops"
	assert_line "KEY_EXPIRY=30m"
	assert_line "RATE_LIMIT_MAX=5"
	assert_line "RATE_LIMIT_WINDOW=120"
	# No secret goes through the store.
	refute_output --partial "TOKEN"
	run -0 jq -r '.config.environment.etc["headscale/acl.hujson"].text | fromjson |
	    [.groups["group:operators"][], .acls[].src[], .acls[].dst[]] | join(" ")' <<<"$json"
	assert_output "ops@ group:operators fleet@:* group:operators:*"
}

@test "units come from the package, enabled the NixOS way; users and firewall" {
	json=$(evaluate "{ $DOMAINS }")
	run -0 jq -c '[.config.systemd.packages, ([.config.systemd.sockets[].wantedBy[]] | unique),
	    .config.systemd.services["sovran-provisioner-bootstrap"].wantedBy]' <<<"$json"
	assert_output '[["/nix/store/00000000000000000000000000000000-sovran-provisioner"],["sockets.target"],["multi-user.target"]]'
	run -0 jq -c '.config.users.users["sovran-provisioner"] | [.isSystemUser, .group, .extraGroups]' <<<"$json"
	assert_output '[true,"sovran-provisioner",["headscale"]]'
	run -0 jq -c '.config.networking.firewall | [.allowedTCPPorts, .allowedUDPPorts]' <<<"$json"
	assert_output '[[80,443],[3478]]'
}

@test "the Headscale settings pass the checks and equal headscale/config.yaml.in" {
	command -v yq >/dev/null || skip "yq (Debian package yq) is not installed"
	json=$(evaluate "{ $DOMAINS baseDomain = \"tailnet.example.org\"; }")
	jq '.config.services.headscale.settings' <<<"$json" >"$BATS_TEST_TMPDIR/settings.json"
	jq -r '.config.environment.etc["headscale/acl.hujson"].text' <<<"$json" >"$BATS_TEST_TMPDIR/acl.hujson"
	# JSON is YAML, so the checker reads the module's output as it is.
	run -0 "$TOP_SRCDIR/tests/deploy/check-headscale-config" \
	    "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/acl.hujson"
	# Same settings as the Debian file, except the socket path the nixpkgs
	# module chooses (/run, which /var/run links to).
	sed -e 's|@HEADSCALE_DOMAIN[@]|hs.example.org|g' -e 's|@BASE_DOMAIN[@]|tailnet.example.org|g' \
	    "$TOP_SRCDIR/headscale/config.yaml.in" | yq -S 'del(.unix_socket)' >"$BATS_TEST_TMPDIR/debian.json"
	jq -S 'del(.unix_socket)' "$BATS_TEST_TMPDIR/settings.json" >"$BATS_TEST_TMPDIR/nixos.json"
	run -0 diff -u "$BATS_TEST_TMPDIR/debian.json" "$BATS_TEST_TMPDIR/nixos.json"
}

@test "Caddy adapts the module's sites to the same routes as caddy/Caddyfile" {
	command -v "${CADDY:-caddy}" >/dev/null || skip "caddy is not installed"
	json=$(evaluate "{ $DOMAINS }")
	{
		printf '{\n\tadmin 127.0.0.1:2019\n}\n'
		jq -r '.config.services.caddy.virtualHosts | to_entries[] |
		    "\(.key) {\n\(.value.extraConfig)\n}"' <<<"$json"
	} >"$BATS_TEST_TMPDIR/nixos.Caddyfile"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR" XDG_DATA_HOME="$BATS_TEST_TMPDIR"
	# Routes only: NixOS writes each site's access log itself.
	"${CADDY:-caddy}" adapt --adapter caddyfile --config "$BATS_TEST_TMPDIR/nixos.Caddyfile" 2>/dev/null |
	    jq -S '.apps.http.servers | map_values(del(.logs))' >"$BATS_TEST_TMPDIR/nixos.json"
	HEADSCALE_DOMAIN=hs.example.org PROVISIONER_DOMAIN=prov.example.org \
	    "${CADDY:-caddy}" adapt --adapter caddyfile --config "$TOP_SRCDIR/caddy/Caddyfile" 2>/dev/null |
	    jq -S '.apps.http.servers | map_values(del(.logs))' >"$BATS_TEST_TMPDIR/debian.json"
	# Guard against comparing two empty answers.
	run -0 jq -r '[.. | .dial? // empty] | sort | join(" ")' "$BATS_TEST_TMPDIR/debian.json"
	assert_output "127.0.0.1:8080 unix//run/sovran-provisioner/health.sock unix//run/sovran-provisioner/machines.sock unix//run/sovran-provisioner/metrics.sock unix//run/sovran-provisioner/register.sock"
	run -0 diff -u "$BATS_TEST_TMPDIR/debian.json" "$BATS_TEST_TMPDIR/nixos.json"
}

@test "the package compiles the headscale path in and puts nothing in /etc" {
	run -0 nix-instantiate --eval --strict --json --expr '
	    let
	      stub = { lib.cleanSource = p: p; stdenv.mkDerivation = a: a; };
	      drv = import '"$PACKAGE"' {
	        inherit (stub) lib stdenv;
	        autoreconfHook = "autoreconfHook"; autoconf-archive = "autoconf-archive";
	        pkg-config = "pkg-config"; fcgi = "fcgi"; json-c = "json-c"; sqlite = "sqlite";
	        headscale = "/nix/store/00000000000000000000000000000000-headscale";
	      };
	    in [ drv.pname drv.buildInputs (builtins.head drv.configureFlags) (builtins.elemAt drv.configureFlags 1) ]'
	assert_output '["sovran-provisioner",["fcgi","json-c","sqlite"],"--with-headscale=/nix/store/00000000000000000000000000000000-headscale/bin/headscale","--sysconfdir=/etc"]'
}
