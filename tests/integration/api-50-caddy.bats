#!/usr/bin/env bats
#
# api-50-caddy.bats: the two Caddyfiles. Both must validate and be in
# caddy fmt's form; the production one must route, cap and proxy as the
# local one does (checked on its adapted JSON); the running local one must
# listen on loopback only, answer JSON 404 for anything not routed, accept
# any Host, and keep credentials out of its access log.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	stack_start
}

teardown_file() {
	stack_stop
}

# caddy_env: what both Caddyfiles read from the environment, pointed at
# this test's directory.
caddy_env() {
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$BATS_TEST_TMPDIR" \
	    XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config" \
	    XDG_DATA_HOME="$BATS_TEST_TMPDIR/data" \
	    HEADSCALE_DOMAIN=hs.example.org PROVISIONER_DOMAIN=prov.example.org \
	    PROVISIONER_HTTP_PORT=8080 PROVISIONER_SOCKET_DIR=/run/sovran-provisioner \
	    CADDY_STATE_DIR="$BATS_TEST_TMPDIR/state" \
	    CADDY_ACCESS_LOG="$BATS_TEST_TMPDIR/access.log" "$@"
}

@test "both Caddyfiles validate" {
	local f
	for f in Caddyfile Caddyfile.local; do
		run caddy_env "$CADDY" validate --adapter caddyfile \
		    --config "$TOP_SRCDIR/caddy/$f"
		assert_success
		assert_output --partial 'Valid configuration'
		refute_output --partial 'not formatted'
	done
}

@test "both Caddyfiles are as caddy fmt writes them" {
	local f
	for f in Caddyfile Caddyfile.local; do
		run diff -u "$TOP_SRCDIR/caddy/$f" <("$CADDY" fmt "$TOP_SRCDIR/caddy/$f")
		assert_success
	done
}

# adapt FILE: the Caddyfile as Caddy's JSON.
adapt() {
	caddy_env "$CADDY" adapt --adapter caddyfile --config "$TOP_SRCDIR/caddy/$1" \
	    2>/dev/null
}

@test "production: TLS names, admin on loopback, Headscale proxied" {
	adapt Caddyfile >"$BATS_TEST_TMPDIR/prod.json"
	jq -e '
		.admin.listen == "127.0.0.1:2019" and
		(.apps.http.servers | length == 1) and
		(.apps.http.servers[].listen == [":443"]) and
		(.apps.http.servers[].automatic_https.disable | not)' \
	    "$BATS_TEST_TMPDIR/prod.json"
	# The Headscale name goes to Headscale on loopback, nothing else.
	jq -e '[.apps.http.servers[].routes[] |
		select(.match[0].host == ["hs.example.org"]) |
		.. | objects | select(.handler == "reverse_proxy") |
		.upstreams[].dial] == ["127.0.0.1:8080"]' \
	    "$BATS_TEST_TMPDIR/prod.json"
}

@test "production: TCP only, no HTTP/3 listener on udp/443" {
	adapt Caddyfile >"$BATS_TEST_TMPDIR/prod.json"
	jq -e '[.apps.http.servers[].protocols] == [["h1", "h2"]]' \
	    "$BATS_TEST_TMPDIR/prod.json"
}

@test "both: the CGI Status header is removed from every response" {
	local f
	for f in Caddyfile Caddyfile.local; do
		adapt "$f" >"$BATS_TEST_TMPDIR/c.json"
		jq -e '[.. | objects | select(.handler == "reverse_proxy") |
			select(.transport.protocol == "fastcgi") |
			.headers.response.delete == ["Status"]] |
			length == 3 and all' "$BATS_TEST_TMPDIR/c.json"
	done
}

@test "no Status header reaches a client, whatever the status" {
	http GET /health
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(header Status)" ""
	http GET /register
	assert_equal "$HTTP_STATUS" 405
	assert_equal "$(header Status)" ""
	http GET /machines
	assert_equal "$HTTP_STATUS" 401
	assert_equal "$(header Status)" ""
}

@test "both: the provisioning routes, body cap and FastCGI transport" {
	local f site
	for f in Caddyfile Caddyfile.local; do
		adapt "$f" >"$BATS_TEST_TMPDIR/c.json"
		site='select((.match[0].host // ["prov.example.org"]) == ["prov.example.org"])'
		jq -e "
			[.apps.http.servers[].routes[] | $site | .. | objects |
			    select(.handler == \"request_body\") | .max_size] == [65536]" \
		    "$BATS_TEST_TMPDIR/c.json"
		jq -e "
			[.apps.http.servers[].routes[] | $site | .. | objects |
			    select(.handler == \"reverse_proxy\") |
			    [.upstreams[0].dial, .transport.protocol,
			     .transport.split_path[0], .load_balancing.try_duration]] |
			sort ==
			[[\"unix//run/sovran-provisioner/health.sock\", \"fastcgi\", \"/health\", 2000000000],
			 [\"unix//run/sovran-provisioner/machines.sock\", \"fastcgi\", \"/machines\", 2000000000],
			 [\"unix//run/sovran-provisioner/metrics.sock\", \"fastcgi\", \"/metrics\", 2000000000],
			 [\"unix//run/sovran-provisioner/register.sock\", \"fastcgi\", \"/register\", 2000000000]]" \
		    "$BATS_TEST_TMPDIR/c.json"
		# Caddy's own errors answered as JSON.
		jq -e '[.apps.http.servers[].errors.routes // empty | .. | objects |
			select(.handler == "static_response") | .body] |
			any(startswith("{\"error\":"))' "$BATS_TEST_TMPDIR/c.json"
		# Access log on, as JSON, without query strings or request
		# headers.
		jq -e '[.logging.logs[] | .encoder | select(.format == "filter" and
		    .wrap.format == "json" and
		    .fields["request>headers"].filter == "delete" and
		    .fields["request>uri"].filter == "regexp")] | length >= 1' \
		    "$BATS_TEST_TMPDIR/c.json"
	done
}

@test "local: Caddy listens on 127.0.0.1 only" {
	local pid
	pid=$(cat "$STACK_DIR/pids/caddy")
	run ss -ltnpH
	assert_success
	grep -F "pid=$pid," <<<"$output" >"$BATS_TEST_TMPDIR/ours"
	assert_equal "$(awk '{ print $4 }' "$BATS_TEST_TMPDIR/ours")" \
	    "127.0.0.1:$STACK_PORT"
}

@test "anything not routed is a JSON 404" {
	local path m
	for path in / /nope /healthz /health/x /register/x /registerX \
	    /machinesX /machines.json /.env /cgi-bin/health; do
		for m in GET POST; do
			echo "$m $path"
			http "$m" "$path"
			assert_equal "$HTTP_STATUS" 404
			assert_equal "$(header Content-Type)" application/json
			assert_json_error
		done
	done
}

@test "/machines/<sub> reaches the machines program: DELETE only, known ids only" {
	local log="$STACK_LOGS/machines.log" before
	before=$(wc -l <"$log")
	http GET /machines/42 -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 405
	assert_equal "$(header Allow)" DELETE
	http DELETE /machines/424242 -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 404
	assert_json_error
	wait_until 10 lines_exceed "$log" "$before"
}

@test "a program that is down is a JSON 502 from Caddy" {
	stop_program machines
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	start_program machines
	assert_equal "$HTTP_STATUS" 502
	assert_json_error
	assert_equal "$(header Content-Type)" application/json
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
}

@test "any Host header is served" {
	http GET /health -H 'Host: prov.example.org'
	assert_equal "$HTTP_STATUS" 200
	http GET /health -H 'Host: localhost'
	assert_equal "$HTTP_STATUS" 200
}

@test "the access log is JSON, one line per request, without credentials" {
	local log="$STACK_LOGS/access.log" before
	wait_until 10 test -s "$log"
	before=$(wc -l <"$log")
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	register caddy-log aa:bb:cc:00:50:01
	assert_equal "$HTTP_STATUS" 200
	wait_until 10 lines_exceed "$log" $((before + 1))
	assert_equal "$(wc -l <"$log")" $((before + 2))
	jq -e -s 'all(.[]; type == "object")' "$log"
	tail -n 2 "$log" | jq -e -s '
		map([.request.uri, .status]) == [["/machines", 200], ["/register", 200]]'
	assert_no_secrets "$log" "$STACK_LOGS/caddy.log"
}

@test "a token in the query string or a misspelt header is not logged" {
	local log="$STACK_LOGS/access.log" before
	wait_until 10 test -s "$log"
	before=$(wc -l <"$log")
	http POST "/register?token=$STACK_TOKEN&x=1" --data-binary '{}'
	assert_equal "$HTTP_STATUS" 401
	http GET /machines -H @"$(header_file "X-Token: $STACK_TOKEN" \
	    "Authorisation: Bearer $STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 401
	wait_until 10 lines_exceed "$log" $((before + 1))
	# Both requests are there, the path without its query...
	tail -n 2 "$log" | jq -e -s '
		map([.request.uri, .status]) ==
		    [["/register?(query-not-logged)", 401], ["/machines", 401]]'
	# ...no request header at all, and the token nowhere.
	tail -n 2 "$log" | jq -e -s 'all(.[]; .request.headers == null)'
	run grep -c -F "$STACK_TOKEN" "$log"
	assert_output 0
	# What is still logged: where from, what and how it ended.
	tail -n 1 "$log" | jq -e '.request.method == "GET" and
	    (.request.remote_ip | length > 0) and .status == 401 and
	    (.resp_headers | type == "object")'
}
