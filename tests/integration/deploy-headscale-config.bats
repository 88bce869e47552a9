#!/usr/bin/env bats
# deploy-headscale-config.bats: headscale/config.yaml.in and acl.hujson.in,
# rendered with the documented sed commands, pass the 0.28 checks
# (tests/deploy/check-headscale-config); the checker catches each mistake
# it exists for; and a real headscale, when one is installed, accepts the
# file with "configtest".

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

CHECK="$TOP_SRCDIR/tests/deploy/check-headscale-config"

setup() {
	command -v yq >/dev/null || skip "yq (Debian package yq) is not installed"
	# The commands the files' headers document.
	sed -e 's|@HEADSCALE_DOMAIN[@]|hs.example.org|g' \
	    -e 's|@BASE_DOMAIN[@]|tailnet.example.org|g' \
	    "$TOP_SRCDIR/headscale/config.yaml.in" >"$BATS_TEST_TMPDIR/config.yaml"
	sed -e 's|@HEADSCALE_USER[@]|sovran-deploy|g' -e 's|@ADMIN_USER[@]|admin|g' \
	    "$TOP_SRCDIR/headscale/acl.hujson.in" >"$BATS_TEST_TMPDIR/acl.hujson"
}

# broken SED-EXPRESSION: the rendered config with one edit, for the checker.
broken() {
	sed -e "$1" "$BATS_TEST_TMPDIR/config.yaml" >"$BATS_TEST_TMPDIR/broken.yaml"
	run -1 "$CHECK" "$BATS_TEST_TMPDIR/broken.yaml"
}

@test "the rendered config and policy pass every check" {
	run -0 "$CHECK" "$BATS_TEST_TMPDIR/config.yaml" "$BATS_TEST_TMPDIR/acl.hujson"
	assert_output ""
}

@test "rendering leaves no placeholder behind, comments included" {
	run -1 grep -n '@[A-Z_]*@' "$BATS_TEST_TMPDIR/config.yaml" "$BATS_TEST_TMPDIR/acl.hujson"
}

@test "the values the stack depends on are the ones rendered" {
	json=$(yq -c . "$BATS_TEST_TMPDIR/config.yaml")
	run -0 jq -r '[.server_url, .listen_addr, .metrics_listen_addr,
	    .grpc_listen_addr, .unix_socket, .unix_socket_permission,
	    .policy.path, (.derp.urls | length)] | join(" ")' <<<"$json"
	assert_output "https://hs.example.org 127.0.0.1:8080 127.0.0.1:9091 127.0.0.1:50443 /var/run/headscale/headscale.sock 0770 /etc/headscale/acl.hujson 0"
}

@test "an unrendered template is refused" {
	run -1 "$CHECK" "$TOP_SRCDIR/headscale/config.yaml.in"
	assert_output --partial "placeholder left unrendered"
}

@test "base_domain equal to or a parent of the server_url host is refused" {
	broken 's|^  base_domain: .*|  base_domain: example.org|'
	assert_output --partial "is the server_url host or a parent of it"
	broken 's|^  base_domain: .*|  base_domain: hs.example.org|'
	assert_output --partial "is the server_url host or a parent of it"
}

@test "override_local_dns without global nameservers is refused" {
	broken '/^    global:/,/^      - 9.9.9.9/d'
	assert_output --partial "needs a non-empty dns.nameservers.global"
}

# shellcheck disable=SC2016 # sed's $ (the last line), not the shell's
@test "removed and renamed keys are refused" {
	broken '$a dns_config:\n  magic_dns: true'
	assert_output --partial "removed or renamed key present: dns_config"
	broken '$a acl_policy_path: /etc/headscale/acl.hujson'
	assert_output --partial "removed or renamed key present: acl_policy_path"
	broken 's|^  type: sqlite|  type: ""|; $a db_type: sqlite3'
	assert_output --partial "removed or renamed key present: db_type"
}

@test "a remote DERP map or a disabled embedded DERP is refused" {
	broken 's|^  urls: \[\]|  urls: [https://controlplane.tailscale.com/derpmap/default]|'
	assert_output --partial "derp.urls must be []"
	broken '/^  server:/,/^    enabled:/s|enabled: true|enabled: false|'
	assert_output --partial "derp.server.enabled must be true"
}

@test "ports that clash with each other or with Caddy are refused" {
	broken 's|^metrics_listen_addr: .*|metrics_listen_addr: 127.0.0.1:8080|'
	assert_output --partial "port 8080 used twice"
	broken 's|^metrics_listen_addr: .*|metrics_listen_addr: 127.0.0.1:2019|'
	assert_output --partial "port 2019 clashes with Caddy"
}

@test "socket permission must be the quoted string 0770" {
	broken 's|^unix_socket_permission: .*|unix_socket_permission: 0770|'
	assert_output --partial 'unix_socket_permission must be the string "0770"'
}

@test "an ephemeral timeout of 65 s or less is refused" {
	broken 's|^ephemeral_node_inactivity_timeout: .*|ephemeral_node_inactivity_timeout: 1m|'
	assert_output --partial "longer than 65s"
}

@test "the policy lets operators in and deploy machines nowhere" {
	json=$(sed 's|^[[:space:]]*//.*$||' "$BATS_TEST_TMPDIR/acl.hujson" |
	    tr '\n' ' ' | sed 's/,[[:space:]]*\([]}]\)/\1/g')
	run -0 jq -r '.groups["group:operators"] | join(" ")' <<<"$json"
	assert_output "admin@"
	# No rule has the deploy user (or everyone) as a source.
	run -0 jq -r '[.acls[].src[]] | join(" ")' <<<"$json"
	assert_output "group:operators"
	run -0 jq -r '[.acls[].dst[]] | join(" ")' <<<"$json"
	assert_output "sovran-deploy@:* group:operators:*"
}

@test "a policy naming a user without its @ or open to everyone is refused" {
	sed 's|"admin@"|"admin"|' "$BATS_TEST_TMPDIR/acl.hujson" >"$BATS_TEST_TMPDIR/bad.hujson"
	run -1 "$CHECK" "$BATS_TEST_TMPDIR/config.yaml" "$BATS_TEST_TMPDIR/bad.hujson"
	assert_output --partial "without the trailing @: admin"
	sed 's|"src": \["group:operators"\]|"src": ["*"]|' "$BATS_TEST_TMPDIR/acl.hujson" >"$BATS_TEST_TMPDIR/open.hujson"
	run -1 "$CHECK" "$BATS_TEST_TMPDIR/config.yaml" "$BATS_TEST_TMPDIR/open.hujson"
	assert_output --partial 'src "*"'
}

@test "STUN listens on both address families" {
	# An empty host: Go's ListenPacket then opens one socket for IPv4 and
	# IPv6 alike, where 0.0.0.0 would serve IPv4 only.
	json=$(yq -c . "$BATS_TEST_TMPDIR/config.yaml")
	run -0 jq -r .derp.server.stun_listen_addr <<<"$json"
	assert_output ":3478"
}

@test "a real headscale accepts the rendered config (configtest)" {
	command -v headscale >/dev/null ||
	    skip "no headscale on PATH (Debian does not package it); the checks above stand in"
	dir="$BATS_TEST_TMPDIR/hs"
	mkdir -p "$dir"
	# Point every path at a scratch directory, keep everything else.
	sed -e "s|/var/lib/headscale|$dir|g; s|/var/run/headscale|$dir|g" \
	    -e "s|/etc/headscale/acl.hujson|$BATS_TEST_TMPDIR/acl.hujson|" \
	    "$BATS_TEST_TMPDIR/config.yaml" >"$dir/config.yaml"
	run -0 headscale configtest -c "$dir/config.yaml"
}

@test "the checker is shellcheck-clean" {
	command -v "${SHELLCHECK:-shellcheck}" >/dev/null || skip "shellcheck is not installed"
	run -0 "${SHELLCHECK:-shellcheck}" "$CHECK"
}
