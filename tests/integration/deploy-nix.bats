#!/usr/bin/env bats
# deploy-nix.bats: nix/package.nix and nix/sovran-provisioner.nix parse,
# and the modules, evaluated with a model of nixpkgs' module system and of
# the nixpkgs modules they touch (tests/deploy/eval-module.nix and
# tests/deploy/model/, no nixpkgs needed), have the documented options and
# defaults, honour stateDir and the headscale and caddy groups everywhere,
# share a system with the client modules, reach every assertion, produce a
# Headscale config that passes the same checks as headscale/config.yaml.in
# and matches it, and a Caddyfile with the same routes as caddy/Caddyfile
# that uses only directives every supported Caddy accepts.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

MODULE="$TOP_SRCDIR/nix/sovran-provisioner.nix"
PACKAGE="$TOP_SRCDIR/nix/package.nix"
INSTALLED="$TOP_SRCDIR/client/nix/installed.nix"
ISO="$TOP_SRCDIR/client/nix/iso.nix"

setup() {
	command -v nix-instantiate >/dev/null ||
	    skip "nix-instantiate (Debian package nix-bin) is not installed"
	# Debian's nix-bin defaults to a build-users group that need not
	# exist; nothing here builds, so do not ask for one.
	export NIX_CONFIG="build-users-group ="
	export NIX_STATE_DIR="$BATS_TEST_TMPDIR/nix-state"
	export HOME="$BATS_TEST_TMPDIR"
}

# evaluate NIX-SET [NIX-ARGS...]: the module's options and the system's
# config as JSON on stdout; NIX-ARGS are more --arg pairs for
# eval-module.nix (modules, system, serverUnits).
evaluate() {
	local set=$1
	shift
	nix-instantiate --eval --strict --json \
	    "$TOP_SRCDIR/tests/deploy/eval-module.nix" \
	    --arg module "$MODULE" --arg set "$set" "$@"
}

# endpoint_setting NAME: serviceConfig.NAME of the four endpoint
# services in $json, as a JSON list.
endpoint_setting() {
	jq -c --arg name "$1" '[.config.systemd.services | to_entries[] |
	    select(.key | test("^sovran-provisioner-(health|register|machines|metrics)$")) |
	    .value.serviceConfig[$name]]' <<<"$json"
}

DOMAINS='enable = true; domain = "prov.example.org"; headscaleDomain = "hs.example.org";'
CONNECT='{ sovran.deployConnect = { enable = true; headscaleServer = "https://hs.example.org"; }; }'

@test "both files parse" {
	run -0 nix-instantiate --parse "$MODULE"
	run -0 nix-instantiate --parse "$PACKAGE"
}

@test "options and defaults are the documented ones" {
	json=$(evaluate "{ }")
	run -0 jq -c '.options | del(.package)' <<<"$json"
	assert_output '{"adminUser":"admin","allowUntestedHeadscale":false,"baseDomain":"sovran.tail","domain":null,"enable":false,"headscaleDomain":null,"headscaleUser":"sovran-deploy","keyExpiry":"1h","rateLimitMax":10,"rateLimitWindow":60,"stateDir":"/var/lib/sovran-provisioner"}'
	# Disabled, the module configures nothing: no unit, no file, no user.
	run -0 jq -c '[.config.systemd.services, .config.systemd.sockets, .etc,
	    .config.users.users, .config.networking.firewall.allowedTCPPorts]' <<<"$json"
	assert_output '[{},{},{},{},[]]'
}

@test "values outside an option's type are refused" {
	run -1 evaluate "{ $DOMAINS keyExpiry = \"1.5h\"; }"
	assert_output --partial "option \`sovranProvisioner.keyExpiry' is not of type"
	run -1 evaluate "{ $DOMAINS stateDir = \"relative/dir\"; }"
	assert_output --partial "sovranProvisioner.stateDir"
	run -1 evaluate "{ $DOMAINS rateLimitMax = 0; }"
	assert_output --partial "sovranProvisioner.rateLimitMax"
	# A name becomes a site address in the Caddyfile: no spaces or braces.
	run -1 evaluate '{ enable = true; domain = "prov.example.org { }"; headscaleDomain = "hs.example.org"; }'
	assert_output --partial "option \`sovranProvisioner.domain' is not of type"
}

@test "the model refuses a misspelt option, a wrong type and a conflicting value" {
	run -1 evaluate "{ $DOMAINS }" --arg system '{ services.caddy.virtualHost = { }; }'
	assert_output --partial "The option \`services.caddy.virtualHost' does not exist"
	run -1 evaluate "{ $DOMAINS }" --arg system '{ services.headscale.port = "8080"; }'
	assert_output --partial "services.headscale.port' is not of type"
	run -1 evaluate "{ $DOMAINS }" --arg system '{ services.headscale.settings.server_url = "https://other.example.org"; }'
	assert_output --partial "services.headscale.settings.server_url' has conflicting definition values"
}

@test "the assertions hold for two proper domains and catch a parent base domain" {
	run -0 evaluate "{ $DOMAINS }"
	run -0 jq -c '.failedAssertions' <<<"$output"
	assert_output '[]'
	run -0 evaluate "{ $DOMAINS baseDomain = \"example.org\"; }"
	run -0 jq -r '.failedAssertions[]' <<<"$output"
	assert_output --partial "baseDomain must not be headscaleDomain or a parent"
}

@test "one name for both sites reaches its assertion" {
	run -0 evaluate "{ enable = true; domain = \"hs.example.org\"; headscaleDomain = \"hs.example.org\"; }"
	run -0 jq -r '.failedAssertions[]' <<<"$output"
	assert_output --partial "domain and headscaleDomain must be two different names"
}

@test "a custom stateDir reaches every unit and the environment, the default path nowhere" {
	json=$(evaluate "{ $DOMAINS stateDir = \"/srv/sovran\"; }")
	run -0 endpoint_setting ReadWritePaths
	assert_output '[["","/srv/sovran"],["","/srv/sovran"],["","/srv/sovran"],["","/srv/sovran"]]'
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
	run -0 jq -c '[(.config.systemd.packages | map(select(test("sovran")))),
	    ([.config.systemd.sockets[].wantedBy[]] | unique),
	    .config.systemd.services["sovran-provisioner-bootstrap"].wantedBy]' <<<"$json"
	assert_output '[["/nix/store/00000000000000000000000000000000-sovran-provisioner"],["sockets.target"],["multi-user.target"]]'
	run -0 jq -c '.config.users.users["sovran-provisioner"] | [.isSystemUser, .group, .extraGroups]' <<<"$json"
	assert_output '[true,"sovran-provisioner",["headscale"]]'
	run -0 jq -c '.config.networking.firewall | [.allowedTCPPorts, .allowedUDPPorts]' <<<"$json"
	assert_output '[[80,443],[3478]]'
}

@test "another module may turn the firewall off" {
	run -0 evaluate "{ $DOMAINS }" --arg system '{ networking.firewall.enable = false; }'
	run -0 jq -c '.config.networking.firewall.enable' <<<"$output"
	assert_output 'false'
}

@test "the headscale and caddy groups reach the units, the user and the sockets" {
	json=$(evaluate "{ $DOMAINS }" --arg system '{
	    services.headscale.group = "hs-sock"; users.groups.hs-sock = { };
	    services.caddy.group = "www"; users.groups.www = { }; }')
	run -0 endpoint_setting SupplementaryGroups
	assert_output '[["","hs-sock"],["","hs-sock"],["","hs-sock"],["","hs-sock"]]'
	run -0 jq -c '[.config.systemd.sockets[].socketConfig.SocketGroup]' <<<"$json"
	assert_output '["www","www","www","www"]'
	run -0 jq -c '.config.users.users["sovran-provisioner"].extraGroups' <<<"$json"
	assert_output '["hs-sock"]'
	# The units name the default groups, so the default needs no drop-in
	# to be right; the drop-in is what carries any other name.
	run -0 grep -x 'SupplementaryGroups=@headscalegroup@' "$TOP_SRCDIR/systemd/endpoint.service.in"
	run -0 grep -x 'SocketGroup=@caddygroup@' "$TOP_SRCDIR/systemd/endpoint.socket.in"
}

@test "a headscale other than 0.28.x fails an assertion unless allowed" {
	local v
	for v in 0.27.1 0.29.0; do
		run -0 evaluate "{ $DOMAINS }" --arg system \
		    "{ pkgs, ... }: { services.headscale.package = pkgs.mkPackage \"headscale\" \"$v\" [ ]; }"
		run -0 jq -r '.failedAssertions[]' <<<"$output"
		assert_output --partial "headscale $v"
		assert_output --partial "allowUntestedHeadscale"
	done
	run -0 evaluate "{ $DOMAINS allowUntestedHeadscale = true; }" --arg system \
	    '{ pkgs, ... }: { services.headscale.package = pkgs.mkPackage "headscale" "0.29.0" [ ]; }'
	run -0 jq -r '.failedAssertions, .warnings[]' <<<"$output"
	assert_line '[]'
	assert_line --partial "headscale 0.29.0"
	run -0 evaluate "{ $DOMAINS }" --arg system \
	    '{ pkgs, ... }: { services.headscale.package = pkgs.mkPackage "headscale" "0.28.3" [ ]; }'
	run -0 jq -c '[.failedAssertions, .warnings]' <<<"$output"
	assert_output '[[],[]]'
}

# server_units: the unit files `make install` puts in the unit directory
# of a default (server) build, as a Nix list.
server_units() {
	local root="$BATS_TEST_TMPDIR/root"
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    make -s -C "$TOP_BUILDDIR" install-data DESTDIR="$root" >/dev/null
	find "$root" -path '*/systemd/system/*' \( -name '*.service' -o -name '*.socket' \) \
	    -printf '"%f" ' | sed 's/.*/[ & ]/'
}

@test "the server package installs no client unit" {
	units=$(server_units)
	[[ $units == *sovran-provisioner-bootstrap.service* ]]
	[[ $units != *sovran-auto-provision* ]]
	[[ $units != *deploy-tailscale-connect* ]]
}

@test "the server and the installed-system modules share a system" {
	run -0 evaluate "{ $DOMAINS }" --arg serverUnits "$(server_units)" \
	    --arg modules "[ $INSTALLED ]" --arg system "$CONNECT"
	run -0 jq -r '.units | (length == (unique | length)), (.[] | select(test("sovran|deploy")))' <<<"$output"
	assert_line --index 0 true
	assert_line deploy-tailscale-connect.service
	assert_line sovran-provisioner-register.socket
	run -0 evaluate "{ $DOMAINS }" --arg serverUnits "$(server_units)" \
	    --arg modules "[ $ISO ]" --arg system '{ sovran.autoProvision.enable = true; }'
	run -0 jq -r '.units[]' <<<"$output"
	assert_line sovran-auto-provision.service
	# Were the client units in both packages, NixOS could not link them.
	run -1 evaluate "{ $DOMAINS }" --arg modules "[ $INSTALLED ]" --arg system "$CONNECT" \
	    --arg serverUnits '[ "sovran-provisioner-bootstrap.service" "deploy-tailscale-connect.service" ]'
	assert_output --partial "deploy-tailscale-connect.service': File exists"
}

@test "the Headscale config the server runs passes the checks and equals headscale/config.yaml.in" {
	command -v yq >/dev/null || skip "yq (Debian package yq) is not installed"
	json=$(evaluate "{ $DOMAINS baseDomain = \"tailnet.example.org\"; }")
	# The server's YAML as nixpkgs writes it: the module's settings merged
	# with nixpkgs' own defaults and CLI keys, null values left out.
	jq '.headscaleConfig' <<<"$json" >"$BATS_TEST_TMPDIR/settings.json"
	jq -r '.etc["headscale/acl.hujson"]' <<<"$json" >"$BATS_TEST_TMPDIR/acl.hujson"
	# JSON is YAML, so the checker reads the module's output as it is.
	run -0 "$TOP_SRCDIR/tests/deploy/check-headscale-config" \
	    "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/acl.hujson"
	# Same settings as the Debian file, except the socket path the nixpkgs
	# module chooses (/run, which /var/run links to) and the keys only
	# nixpkgs adds, each harmless to headscale 0.28: listed here so that
	# any other difference fails.
	nixpkgs_only='del(.unix_socket, .tls_letsencrypt_cache_dir, .tls_letsencrypt_challenge_type,
	    .tls_letsencrypt_hostname, .tls_letsencrypt_listen, .oidc, .dns.search_domains, .dns.split,
	    .database.postgres)'
	sed -e 's|@HEADSCALE_DOMAIN[@]|hs.example.org|g' -e 's|@BASE_DOMAIN[@]|tailnet.example.org|g' \
	    "$TOP_SRCDIR/headscale/config.yaml.in" | yq -S "$nixpkgs_only" >"$BATS_TEST_TMPDIR/debian.json"
	jq -S "$nixpkgs_only" "$BATS_TEST_TMPDIR/settings.json" >"$BATS_TEST_TMPDIR/nixos.json"
	run -0 diff -u "$BATS_TEST_TMPDIR/debian.json" "$BATS_TEST_TMPDIR/nixos.json"
	# What nixpkgs adds is no more than that.
	run -0 jq -c '[.tls_letsencrypt_hostname, .oidc.issuer, .oidc.pkce.enabled, .dns.split,
	    .database.postgres]' "$BATS_TEST_TMPDIR/settings.json"
	assert_output '["","",false,{},{}]'
	# The CLI's /etc/headscale/config.yaml holds only the socket.
	run -0 jq -c '.etc["headscale/config.yaml"]' <<<"$json"
	assert_output '{"disable_check_updates":true,"unix_socket":"/run/headscale/headscale.sock"}'
}

@test "the module writes only Caddy directives that 2.6.2 and 2.8+ both accept" {
	json=$(evaluate "{ $DOMAINS }")
	# The whole Caddyfile nixpkgs writes, its global options included.
	jq -r '.caddyfile' <<<"$json" >"$BATS_TEST_TMPDIR/Caddyfile"
	run -0 "$TOP_SRCDIR/caddy/check-directives" "$BATS_TEST_TMPDIR/Caddyfile"
	# The sites alone, as the module writes them.
	jq -r '.config.services.caddy.virtualHosts[].extraConfig' <<<"$json" >"$BATS_TEST_TMPDIR/sites"
	run -0 "$TOP_SRCDIR/caddy/check-directives" -s "$BATS_TEST_TMPDIR/sites"
	# The checker sees what it must refuse.
	printf 'reverse_proxy x {\n\tbuffer_requests\n\tmax_buffer_size 64KiB\n}\nfoo\n' >"$BATS_TEST_TMPDIR/old"
	run -1 "$TOP_SRCDIR/caddy/check-directives" -s "$BATS_TEST_TMPDIR/old"
	assert_output --partial "site/reverse_proxy/buffer_requests: Caddy 2.6.2 accepts it, Caddy 2.8 and later reject it"
	assert_output --partial "site/reverse_proxy/max_buffer_size: Caddy 2.6.2 accepts it, Caddy 2.8 and later reject it"
	assert_output --partial "site/foo is not in the table"
	# Every FastCGI route drops the CGI Status header from the response.
	run -0 grep -c -x $'\t\theader_down -Status' "$BATS_TEST_TMPDIR/sites"
	assert_output 4
}

# adapt_both FILTER: the Caddyfile nixpkgs writes for $DOMAINS (kept as
# nixos.Caddyfile) and caddy/Caddyfile, each adapted by Caddy and passed
# through the jq FILTER, into nixos.json and debian.json.
adapt_both() {
	json=$(evaluate "{ $DOMAINS }")
	jq -r '.caddyfile' <<<"$json" >"$BATS_TEST_TMPDIR/nixos.Caddyfile"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR" XDG_DATA_HOME="$BATS_TEST_TMPDIR"
	"${CADDY:-caddy}" adapt --adapter caddyfile --config "$BATS_TEST_TMPDIR/nixos.Caddyfile" 2>/dev/null |
	    jq -S "$1" >"$BATS_TEST_TMPDIR/nixos.json"
	HEADSCALE_DOMAIN=hs.example.org PROVISIONER_DOMAIN=prov.example.org \
	    "${CADDY:-caddy}" adapt --adapter caddyfile --config "$TOP_SRCDIR/caddy/Caddyfile" 2>/dev/null |
	    jq -S "$1" >"$BATS_TEST_TMPDIR/debian.json"
}

@test "Caddy adapts the Caddyfile nixpkgs writes to the same routes as caddy/Caddyfile" {
	command -v "${CADDY:-caddy}" >/dev/null || skip "caddy is not installed"
	# Routes only: NixOS writes each site's access log itself. Request
	# buffering and response header edits are left out on both sides: the
	# module writes no buffering (gone in Caddy 2.8) and strips Status,
	# which the previous test pins, and caddy/Caddyfile follows on its own.
	adapt_both '.apps.http.servers | map_values(del(.logs)) |
	    walk(if type == "object" and .handler? == "reverse_proxy" then
	        del(.buffer_requests, .max_buffer_size, .request_buffers, .headers) else . end)'
	# Guard against comparing two empty answers.
	run -0 jq -r '[.. | .dial? // empty] | sort | join(" ")' "$BATS_TEST_TMPDIR/debian.json"
	assert_output "127.0.0.1:8080 unix//run/sovran-provisioner/health.sock unix//run/sovran-provisioner/machines.sock unix//run/sovran-provisioner/metrics.sock unix//run/sovran-provisioner/register.sock"
	run -0 diff -u "$BATS_TEST_TMPDIR/debian.json" "$BATS_TEST_TMPDIR/nixos.json"
	# Each site logs where the guide says.
	run -0 grep -c -F 'output file /var/log/caddy/access-prov.example.org.log' "$BATS_TEST_TMPDIR/nixos.Caddyfile"
	assert_output 1
}

@test "the provisioning site's access log drops query strings and request headers, as caddy/Caddyfile's does" {
	command -v "${CADDY:-caddy}" >/dev/null || skip "caddy is not installed"
	adapt_both '[.logging.logs[] | .encoder | select(.format == "filter")]'
	run -0 jq -e 'length == 1 and (.[0].fields["request>headers"].filter == "delete")' "$BATS_TEST_TMPDIR/debian.json"
	run -0 diff -u "$BATS_TEST_TMPDIR/debian.json" "$BATS_TEST_TMPDIR/nixos.json"
}

# nixos_paths: the rows of the guide's "Where things are on NixOS" table,
# as "what<TAB>on NixOS" lines (the Debian column left out).
nixos_paths() {
	awk '/^## Server setup on NixOS/ { in_nixos = 1; next }
	    /^## / { in_nixos = 0; in_table = 0 }
	    in_nixos && /^### Where things are on NixOS/ { in_table = 1; next }
	    in_nixos && /^### / { in_table = 0 }
	    in_table && /^\| / && !/^\| what/ && !/^\|---/ {
	        split($0, cell, "|"); print cell[2] "\t" cell[4] }' \
	    "$TOP_SRCDIR/docs/remote-deploy-headscale.md"
}

@test "the guide's NixOS paths are the ones the modules and nixpkgs use" {
	json=$(evaluate "{ $DOMAINS }")
	rows=$(nixos_paths)
	[ -n "$rows" ]
	# Every /etc file the table names is one the system has (the unit
	# directory aside: the model does not build it).
	local path n=0
	for path in $(grep -o '`/etc/[^`]*`' <<<"$rows" | tr -d '`' | grep -v '^/etc/systemd/' | sort -u); do
		run -0 jq -e --arg f "${path#/etc/}" '.etc | has($f)' <<<"$json"
		n=$((n + 1))
	done
	[ "$n" -ge 4 ]
	# The headscale CLI config, the Caddy config, the log and the socket.
	assert_equal "$(grep -c -F '`/etc/headscale/config.yaml`' <<<"$rows")" 1
	run -0 grep -F '`/etc/caddy/caddy_config`' <<<"$rows"
	run -0 grep -F '`/var/log/caddy/access-<domain>.log`' <<<"$rows"
	run -0 jq -r '.headscaleConfig.unix_socket' <<<"$json"
	run -0 grep -F "\`$output\`" <<<"$rows"
	# No firewall file: NixOS builds the rules from networking.firewall.
	run -1 grep -F '/etc/nftables.conf' <<<"$rows"
	run -0 jq -e '.etc | has("nftables.conf") | not' <<<"$json"
	run -1 grep -F 'everything else in this guide is the same' "$TOP_SRCDIR/docs/remote-deploy-headscale.md"
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

@test "the backup command and sqlite3 are on the operator's PATH" {
	json=$(evaluate "{ $DOMAINS }")
	run -0 jq -r '.systemPackages | map(sub("-[^-]*$"; "")) | sort | join(" ")' <<<"$json"
	assert_output --partial "sovran-provisioner"
	assert_output --partial "sqlite"
}
