#!/usr/bin/env bats
# deploy-firewall.bats: firewall/nftables.conf is valid for nft, loads into
# a fresh network namespace with the intended policy, and really filters:
# from a second namespace over a veth pair, the open ports answer and the
# loopback-only ones are dropped.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

RULES="$TOP_SRCDIR/firewall/nftables.conf"

setup() {
	command -v nft >/dev/null || skip "nft (Debian package nftables) is not installed"
}

# ruleset_json: loads the ruleset into a private network namespace and prints
# it as JSON; skipped where namespaces cannot be made.
ruleset_json() {
	unshare -n true 2>/dev/null ||
	    skip "cannot create a network namespace here (needs root / CAP_SYS_ADMIN)"
	# shellcheck disable=SC2016 # $1 is for the inner sh
	unshare -n sh -c 'nft -f "$1" && nft -j list ruleset' sh "$RULES"
}

@test "nft accepts the ruleset (nft -c)" {
	run -0 nft -c -f "$RULES"
	assert_output ""
}

@test "input and forward drop by default, output accepts" {
	json=$(ruleset_json)
	run -0 jq -r '[.nftables[] | select(.chain) | .chain |
	    "\(.table)/\(.name)/\(.hook)/\(.policy)"] | join(" ")' <<<"$json"
	assert_output "filter/input/input/drop filter/forward/forward/drop filter/output/output/accept"
}

@test "established traffic first, then loopback; exactly TCP 22 80 443 and UDP 3478 open" {
	json=$(ruleset_json)
	run -0 jq -c '[.nftables[] | select(.rule.chain == "input") | .rule.expr[0].match.right] | .[0:3]' <<<"$json"
	assert_output '[["established","related"],"invalid","lo"]'
	run -0 jq -c '[.nftables[] | select(.rule.chain == "input") | .rule.expr[] |
	    select(.match.left.payload.field == "dport") |
	    {(.match.left.payload.protocol): .match.right}]' <<<"$json"
	assert_output '[{"tcp":{"set":[22,80,443]}},{"udp":3478}]'
	# Nothing else accepts by port, and forward has no rule at all.
	run -0 jq '[.nftables[] | select(.rule.chain == "forward")] | length' <<<"$json"
	assert_output 0
}

# The live check: namespace "server" holds the ruleset and a Caddy answering
# on several ports, namespace "client" connects over a veth pair.
ns_server="prov-fw-s$$"
ns_client="prov-fw-c$$"

teardown() {
	if [[ -s $BATS_TEST_TMPDIR/caddy.pid ]]; then
		kill "$(cat "$BATS_TEST_TMPDIR/caddy.pid")" 2>/dev/null || true
		wait "$(cat "$BATS_TEST_TMPDIR/caddy.pid")" 2>/dev/null || true
	fi
	ip netns del "$ns_server" 2>/dev/null || true
	ip netns del "$ns_client" 2>/dev/null || true
}

# probe PORT: one HTTP request from the client namespace to the server.
probe() {
	ip netns exec "$ns_client" curl -s --max-time "${2:-10}" "http://10.203.0.2:$1/"
}

@test "open ports answer through the firewall, closed ones are dropped" {
	command -v "${CADDY:-caddy}" >/dev/null || skip "caddy is not installed"
	command -v curl >/dev/null || skip "curl is not installed"
	ip netns add "$ns_server" 2>/dev/null || skip "cannot create named network namespaces here"
	ip netns add "$ns_client"
	ip link add "pfw$$a" type veth peer name "pfw$$b"
	ip link set "pfw$$a" netns "$ns_server"
	ip link set "pfw$$b" netns "$ns_client"
	ip -n "$ns_server" addr add 10.203.0.2/24 dev "pfw$$a"
	ip -n "$ns_client" addr add 10.203.0.1/24 dev "pfw$$b"
	ip -n "$ns_server" link set "pfw$$a" up
	ip -n "$ns_client" link set "pfw$$b" up
	ip -n "$ns_server" link set lo up
	ip netns exec "$ns_server" nft -f "$RULES"

	# Plain HTTP on the open ports and on ports the stack keeps on loopback.
	# JSON, because the Caddyfile will not serve plain HTTP on 443.
	cat >"$BATS_TEST_TMPDIR/caddy.json" <<-'JSON'
	{"admin": {"disabled": true}, "apps": {"http": {"servers": {"probe": {
		"listen": [":22", ":80", ":443", ":8080", ":9091", ":50443"],
		"automatic_https": {"disable": true},
		"routes": [{"handle": [{"handler": "static_response", "body": "open"}]}]
	}}}}}
	JSON
	XDG_CONFIG_HOME="$BATS_TEST_TMPDIR" XDG_DATA_HOME="$BATS_TEST_TMPDIR" \
	    ip netns exec "$ns_server" "${CADDY:-caddy}" run \
	    --config "$BATS_TEST_TMPDIR/caddy.json" >"$BATS_TEST_TMPDIR/caddy.log" 2>&1 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/caddy.pid"
	# Up when it answers on loopback, which the ruleset always allows.
	for _ in $(seq 300); do
		ip netns exec "$ns_server" curl -s --max-time 2 http://127.0.0.1:8080/ >/dev/null && break
		sleep 0.1
	done
	run -0 ip netns exec "$ns_server" curl -s --max-time 5 http://127.0.0.1:8080/ ||
	    { cat "$BATS_TEST_TMPDIR/caddy.log" >&2; false; }
	assert_output "open"

	for port in 22 80 443; do
		run -0 probe "$port"
		assert_output "open"
	done
	# Dropped, not refused: curl gives up (28) instead of failing at once (7).
	for port in 8080 9091 50443; do
		run -28 probe "$port" 3
	done
}
