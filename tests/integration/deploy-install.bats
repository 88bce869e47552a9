#!/usr/bin/env bats
# deploy-install.bats: what "make install" ships works as shipped. The
# installed bootstrap prepares a data directory; the installed programs
# are started the way their units start them (the listening socket on
# standard input, here by spawn-fcgi) with the installed example
# environment; the shipped production Caddyfile, moved onto loopback, fronts
# them; and a machine registers through it all against the headscale
# stand-in.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	command -v spawn-fcgi >/dev/null || skip "spawn-fcgi is not installed"
	command -v "$CADDY" >/dev/null || skip "caddy is not installed"
	export ROOT="$BATS_FILE_TMPDIR/root" T="$BATS_FILE_TMPDIR/run"
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    make -s -C "$TOP_BUILDDIR" install DESTDIR="$ROOT" >/dev/null
	mkdir -p "$T/sock" "$T/logs" "$T/pids" "$T/headscale/standin" "$T/caddy"
	printf 'server_url: %s\n' "$HEADSCALE_TEST_URL" >"$T/headscale/config.yaml"

	# The installed example environment, with this test's paths on top;
	# a later line for a variable wins, as in systemd.
	examples=$(dirname "$(find "$ROOT" -path '*/examples/environment')")
	{
		grep -E '^[A-Z_]+=' "$examples/environment"
		echo "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
		echo "PROVISIONER_DATA_DIR=$T/data"
		echo "PROVISIONER_USER=$(id -un)"
		echo "HEADSCALE_BIN=$HS_STANDIN"
		echo "HEADSCALE_CONFIG=$T/headscale/config.yaml"
		echo "HEADSCALE_URL=$HEADSCALE_TEST_URL"
	} | awk -F= '{ v[$1] = $0; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
	    END { for (i = 1; i <= n; i++) print v[order[i]] }' >"$T/env"
	mapfile -t ENV <"$T/env"

	# Bootstrap with the installed program: token, database, users.
	sbin=$(dirname "$(find "$ROOT" -name sovran-provisioner-bootstrap -type f)")
	env -i "${ENV[@]}" "$sbin/sovran-provisioner-bootstrap" >"$T/logs/bootstrap.log" 2>&1

	# Each program as its unit runs it: ExecStart from the installed unit,
	# the socket on fd 0 with mode 0660 (SocketMode=), nothing else.
	unitdir=$(dirname "$(find "$ROOT" -name sovran-provisioner-bootstrap.service)")
	for e in health register machines metrics; do
		read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' "$unitdir/sovran-provisioner-$e.service")"
		cmd[0]=$ROOT${cmd[0]}
		setsid env -i "${ENV[@]}" spawn-fcgi -n -s "$T/sock/$e.sock" -M 0660 \
		    -- "${cmd[@]}" </dev/null >>"$T/logs/$e.log" 2>&1 3>&- &
		echo $! >"$T/pids/$e"
	done

	# The production Caddyfile on loopback: plain HTTP on a free port for
	# the provisioning site, the test's socket directory, no admin API,
	# the access log in the test directory.
	port=$(free_port)
	# shellcheck disable=SC2016 # Caddy's {$VAR} placeholders, literally
	sed -e "s|/run/sovran-provisioner/|$T/sock/|" \
	    -e "s|^\tadmin 127.0.0.1:2019|\tadmin off|" \
	    -e "s|/var/log/caddy/|$T/logs/|" \
	    -e 's|^{\$PROVISIONER_DOMAIN} {|&\n\tbind 127.0.0.1|' \
	    -e 's|^{\$HEADSCALE_DOMAIN} {|&\n\tbind 127.0.0.1|' \
	    "$examples/Caddyfile" >"$T/Caddyfile"
	setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/caddy" \
	    XDG_CONFIG_HOME="$T/caddy" XDG_DATA_HOME="$T/caddy" \
	    PROVISIONER_DOMAIN="http://127.0.0.1:$port" \
	    HEADSCALE_DOMAIN="http://127.0.0.1:$(free_port)" \
	    "$CADDY" run --adapter caddyfile --config "$T/Caddyfile" \
	    </dev/null >>"$T/logs/caddy.log" 2>&1 3>&- &
	echo $! >"$T/pids/caddy"
	export STACK_URL="http://127.0.0.1:$port"
	export STACK_TOKEN STACK_ADMIN_TOKEN
	STACK_TOKEN=$(cat "$T/data/enroll-token")
	STACK_ADMIN_TOKEN=$(cat "$T/data/admin-token")
	wait_until "$STACK_WAIT" curl -sf -o /dev/null "$STACK_URL/health" || {
		tail -n 20 "$T"/logs/*.log >&2
		return 1
	}
}

teardown_file() {
	local f
	for f in "${T:-/nonexistent}"/pids/*; do
		[[ -f $f ]] && pid_stop "$(cat "$f")"
	done
	true
}

@test "the installed bootstrap prepared token, database and users" {
	run -0 cat "$T/logs/bootstrap.log"
	assert_line --partial "created Headscale user sovran-deploy"
	assert_line --partial "created Headscale user admin"
	[[ $STACK_TOKEN =~ ^[0-9a-f]{64}$ ]]
}

@test "the installed programs took their sockets on standard input" {
	for e in health register machines metrics; do
		[[ -S $T/sock/$e.sock ]]
		run -0 stat -c %a "$T/sock/$e.sock"
		assert_output 660
	done
}

@test "health answers through the shipped Caddyfile" {
	http GET /health
	assert_equal "$HTTP_STATUS" 200
	run -0 jq -r .status <<<"$HTTP_BODY"
	assert_output ok
}

@test "a machine registers and is listed, with a key from headscale" {
	register install-test 52:54:00:12:34:56
	assert_equal "$HTTP_STATUS" 200
	run -0 jq -r '.login_server, (.headscale_key | length > 0)' <<<"$HTTP_BODY"
	assert_output "$HEADSCALE_TEST_URL
true"
	run -0 grep -c ' preauthkeys create ' "$T/headscale/standin/calls.log"
	assert_output 1
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	run -0 jq -r '.[0].hostname' <<<"$HTTP_BODY"
	assert_output install-test
}

@test "without the token nothing is handed out" {
	register sneaky 52:54:00:12:34:57 ""
	assert_equal "$HTTP_STATUS" 401
	http GET /nope
	assert_equal "$HTTP_STATUS" 404
}
