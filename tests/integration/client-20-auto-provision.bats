#!/usr/bin/env bats
#
# client-20-auto-provision.bats: sovran-auto-provision, the live ISO's
# client, against a running stack (Caddy, the three programs, the headscale
# stand-in) with the tailscale stand-in as the only tailscale. The stand-in
# joins only with a key the headscale stand-in issued and has not seen used,
# so a join here proves the key went from the server to tailscale intact.
#
# The client runs in a clean environment whose PATH holds only sh and the
# tools its NixOS unit provides (coreutils, sed, curl, jq, tailscale), so
# anything else it needed would fail here first.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helper

CLIENT_TOOLS=(sh curl jq head tail tr sed od readlink mktemp rm sleep wc)

setup_file() {
	stack_start
	export CLIENT_BIN="$BATS_FILE_TMPDIR/bin"
	client_bin "$CLIENT_BIN" "${CLIENT_TOOLS[@]}"
}

teardown_file() {
	stack_stop
}


setup() {
	CONF="$BATS_TEST_TMPDIR/etc-sovran"
	SYSFS="$BATS_TEST_TMPDIR/sys"
	CLIENT_TMP="$BATS_TEST_TMPDIR/tmp"
	export TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/tailscaled"
	mkdir -p "$CONF" "$CLIENT_TMP" "$SYSFS/class/net" "$TAILSCALE_STANDIN_DIR"
	chmod 0700 "$CONF" "$CLIENT_TMP"
	(umask 077 && printf '%s\n' "$STACK_TOKEN" >"$CONF/enroll-token")
	printf '%s\n' "$STACK_URL" >"$CONF/provisioner-url"
	iface lo 00:00:00:00:00:00 772 virtual
	iface enp1s0 52:54:00:12:34:56
	hs_fault_clear
}

# Whatever a failed test left running in the background is stopped here.
teardown() {
	touch "$BATS_TEST_TMPDIR/stop"
	if [[ -n ${ODD_PID:-} ]]; then
		pid_stop "$ODD_PID"
	fi
	if [[ -n ${CLIENT_PID:-} ]]; then
		kill "$CLIENT_PID" 2>/dev/null || true
		wait "$CLIENT_PID" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
}

# iface NAME MAC [TYPE [virtual]]: a network interface in the fake sysfs,
# laid out as the kernel does: class/net/NAME links to the device.
iface() {
	local where=devices/pci0000:00/0000:00:03.0/net
	[[ ${4:-} != virtual ]] || where=devices/virtual/net
	mkdir -p "$SYSFS/$where/$1"
	printf '%s\n' "$2" >"$SYSFS/$where/$1/address"
	printf '%s\n' "${3:-1}" >"$SYSFS/$where/$1/type"
	ln -s "../../$where/$1" "$SYSFS/class/net/$1"
}

# client_cmd [VAR=value...]: the command line that runs the client in a
# clean environment, short retry delays, the test's files.
client_cmd() {
	CLIENT_CMD=(env -i PATH="$CLIENT_BIN" TMPDIR="$CLIENT_TMP"
	    SOVRAN_CONFIG_DIR="$CONF" SOVRAN_SYSFS_NET="$SYSFS/class/net"
	    TAILSCALE_STANDIN_DIR="$TAILSCALE_STANDIN_DIR"
	    HEADSCALE_STANDIN_STATE="$STACK_HS_STATE"
	    SOVRAN_RETRY_BASE=1 SOVRAN_RETRY_CAP=2 SOVRAN_UP_TIMEOUT=10
	    "$@" "$TOP_SRCDIR/client/sovran-auto-provision")
}

# client [VAR=value...]: runs the client; its log (stderr) is $stderr and
# is also kept in $CLIENT_LOG.
client() {
	CLIENT_LOG="$BATS_TEST_TMPDIR/client.log"
	client_cmd "$@"
	run --separate-stderr "${CLIENT_CMD[@]}"
	# shellcheck disable=SC2154 # set by run --separate-stderr
	printf '%s\n' "$stderr" >"$CLIENT_LOG"
}

# client_bg [VAR=value...]: starts the client in the background, in a
# session of its own; CLIENT_PID is its pid (and session id).
client_bg() {
	CLIENT_LOG="$BATS_TEST_TMPDIR/client.log"
	client_cmd "$@"
	# Created here, so a test can wait for lines in it at once.
	: >"$CLIENT_LOG"
	setsid "${CLIENT_CMD[@]}" </dev/null >>"$CLIENT_LOG" 2>&1 3>&- &
	CLIENT_PID=$!
}

# register_lines: requests for /register in Caddy's access log so far.
register_lines() {
	jq -r 'select(.request.uri != null) | .request.uri' \
	    "$STACK_LOGS/access.log" 2>/dev/null | grep -c '/register$' || true
}

# refute_up: the client never ran "tailscale up".
refute_up() {
	if grep -q '^up' "$TAILSCALE_STANDIN_DIR/argv.log" 2>/dev/null; then
		fail "tailscale up was run"
	fi
}

# up_arg NAME: the value of --NAME= in the stand-in's last "up" call.
up_arg() {
	grep '^up ' "$TAILSCALE_STANDIN_DIR/argv.log" | tail -n 1 |
	    tr ' ' '\n' | sed -n "s/^--$1=//p"
}

@test "joins the tailnet with the key the server issued, from a 0600 file" {
	client
	assert_success
	local name keyfile key_id
	name=$(up_arg hostname)
	[[ $name =~ ^sovran-deploy-[0-9a-f]{16}$ ]] || fail "hostname: $name"
	assert_equal "$(up_arg login-server)" "$HEADSCALE_TEST_URL"
	assert_equal "$(up_arg accept-dns)" false
	keyfile=$(up_arg auth-key)
	[[ $keyfile == file:/* ]] || fail "auth key not a file: $keyfile"

	# The key tailscale read was the one the server minted for this machine.
	assert_equal "$(cat "$TAILSCALE_STANDIN_DIR/authkey.mode")" 600
	key_id=$(sqlite3 "$STACK_DB" "SELECT key_id FROM machines
	    WHERE hostname = '$name' AND mac = '52:54:00:12:34:56'")
	[[ -n $key_id ]] || fail "no machine record for $name"
	assert_equal "$(sha256sum <"$TAILSCALE_STANDIN_DIR/authkey.seen" | cut -d ' ' -f 1)" \
	    "$(jq -r --argjson id "$key_id" '.keys[] | select(.id == $id) | .hash' \
	    "$STACK_HS_STATE/state.json")"
	# shellcheck disable=SC2016 # $id and $name are jq's
	run -0 jq -e --argjson id "$key_id" --arg name "$name" \
	    '(.keys[] | select(.id == $id) | .used) and
	     any(.nodes[]; .key_id == $id and .name == $name)' \
	    "$STACK_HS_STATE/state.json"

	# Nothing is left behind: not the key file, not its directory.
	[[ ! -e ${keyfile#file:} ]] || fail "key file left behind"
	run -0 find "$CLIENT_TMP" -mindepth 1
	assert_output ''
	run -0 grep -c "Joined the tailnet as $name (100\.64\." "$CLIENT_LOG"
}

@test "neither the token nor the key is on any command line or in any log" {
	local stop="$BATS_TEST_TMPDIR/stop" seen="$BATS_TEST_TMPDIR/cmdlines"
	local key sampler
	# A slow key keeps curl running long enough to be seen for sure.
	printf 'slow 2\n' >"$STACK_HS_STATE/fault.preauthkeys"
	client_bg
	sample_cmdlines "$CLIENT_PID" "$stop" "$seen" &
	sampler=$!
	local rc=0
	wait "$CLIENT_PID" || rc=$?
	touch "$stop"
	wait "$sampler"
	assert_equal "$rc" 0

	# The sampler saw the client's processes, so its silence means something.
	run -0 grep -c '^curl .*/register ' "$seen"
	key=$(cat "$TAILSCALE_STANDIN_DIR/authkey.seen")
	[[ $key == hskey-auth-* ]] || fail "no key reached tailscale"
	local f
	for f in "$seen" "$TAILSCALE_STANDIN_DIR/argv.log" "$CLIENT_LOG" \
	    "$STACK_LOGS"/*; do
		if grep -qF -e "$key" -e "$STACK_TOKEN" "$f"; then
			fail "$f holds the key or the token"
		fi
	done
	assert_no_secrets "$seen" "$TAILSCALE_STANDIN_DIR/argv.log" "$CLIENT_LOG" \
	    "$STACK_LOGS"/*
}

# sample_cmdlines SID STOPFILE OUT: until STOPFILE exists, appends the
# command line of every process in session SID to OUT.
sample_cmdlines() {
	local sid=$1 stop=$2 out=$3 p st rest
	local -a f
	: >"$out"
	while [[ ! -e $stop ]]; do
		for p in /proc/[0-9]*; do
			read -r st 2>/dev/null <"$p/stat" || continue
			rest=${st##*) }
			read -r -a f <<<"$rest"
			# state ppid pgrp session ...
			[[ ${f[3]:-} == "$sid" ]] || continue
			# The process may be gone by now; bats runs with set -e.
			{ tr '\0' ' ' <"$p/cmdline" && echo; } >>"$out" 2>/dev/null ||
			    true
		done
	done
}

@test "without a token it skips, exit 0, and asks nothing" {
	local before
	before=$(register_lines)
	rm "$CONF/enroll-token"
	client
	assert_success
	assert_equal "$stderr" "No enroll token found, skipping auto-provision"
	[[ ! -e $TAILSCALE_STANDIN_DIR/argv.log ]] || fail "tailscale was run"
	assert_equal "$(register_lines)" "$before"
}

@test "an empty token file is the same as none" {
	: >"$CONF/enroll-token"
	client
	assert_success
	assert_equal "$stderr" "No enroll token found, skipping auto-provision"
}

@test "without a URL it skips, exit 0" {
	rm "$CONF/provisioner-url"
	client
	assert_success
	assert_equal "$stderr" "No provisioner URL found, skipping auto-provision"
	[[ ! -e $TAILSCALE_STANDIN_DIR/argv.log ]] || fail "tailscale was run"
}

@test "a trailing slash in the URL still posts to /register" {
	local before
	before=$(register_lines)
	printf '%s//\n' "$STACK_URL" >"$CONF/provisioner-url"
	client
	assert_success
	assert_equal "$(register_lines)" $((before + 1))
	run -0 jq -r '.request.uri' "$STACK_LOGS/access.log"
	refute_line --partial '//register'
}

@test "plain http is refused except to this machine itself" {
	local before url
	before=$(register_lines)
	for url in http://prov.example.test http://127.0.0.1.example.test \
	    "http://localhost:$STACK_PORT@prov.example.test" \
	    "$STACK_URL?x=1"; do
		printf '%s\n' "$url" >"$CONF/provisioner-url"
		client
		assert_failure 1
	done
	assert_equal "$(register_lines)" "$before"
	refute_up
	printf 'http://localhost:%s\n' "$STACK_PORT" >"$CONF/provisioner-url"
	client
	assert_success
	assert_equal "$(register_lines)" $((before + 1))
}

@test "a wrong token fails at once: exit 2, one request, no tailscale" {
	local before
	before=$(register_lines)
	(umask 077 && new_token >"$CONF/enroll-token")
	client
	assert_failure 2
	assert_equal "$(register_lines)" $((before + 1))
	run -0 grep -c 'rejected the enrollment token (HTTP 401)' "$CLIENT_LOG"
	refute_up
}

@test "a 404 (wrong URL path) fails at once: exit 2, one request" {
	local before
	before=$(register_lines)
	printf '%s/api\n' "$STACK_URL" >"$CONF/provisioner-url"
	client
	assert_failure 2
	run -0 grep -c 'rejected the registration (HTTP 404)' "$CLIENT_LOG"
	run -0 jq -r '.request.uri' "$STACK_LOGS/access.log"
	assert_equal "$(grep -c '^/api/register$' <<<"$output")" 1
}

@test "a 5xx is retried until headscale recovers" {
	hs_fault fail
	client_bg SOVRAN_MAX_ATTEMPTS=60
	wait_until "$STACK_WAIT" grep -q 'HTTP 50[0-9], retrying' "$CLIENT_LOG"
	hs_fault_clear
	local rc=0
	wait "$CLIENT_PID" || rc=$?
	assert_equal "$rc" 0
	run -0 grep -c 'Joined the tailnet' "$CLIENT_LOG"
}

@test "a server that never answers: exit 3 after the configured attempts" {
	printf 'http://127.0.0.1:%s\n' "$(free_port)" >"$CONF/provisioner-url"
	client SOVRAN_MAX_ATTEMPTS=3 SOVRAN_RETRY_BASE=0
	assert_failure 3
	run -0 grep -c 'server unreachable, retrying' "$CLIENT_LOG"
	assert_output 2
	run -0 grep -c 'after 3 attempts' "$CLIENT_LOG"
	refute_up
}

@test "the MAC is the first physical interface's, skipping virtual ones" {
	iface docker0 02:42:ac:11:00:02 1 virtual
	iface eno0 00:00:00:00:00:00
	iface tailscale0 '' 65534 virtual
	iface dummy0 aa:bb:cc:dd:ee:ff 1 virtual
	iface enp0s31f6 3C:52:82:AA:BB:01
	client SOVRAN_HOSTNAME=mac-check
	assert_success
	assert_equal "$(sqlite3 "$STACK_DB" "SELECT mac FROM machines
	    WHERE hostname = 'mac-check'")" 3c:52:82:aa:bb:01
}

@test "no interface with a MAC: exit 1 before any request" {
	rm "$SYSFS/class/net/enp1s0"
	client
	assert_failure 1
	run -0 grep -c 'no network interface with a MAC address' "$CLIENT_LOG"
}

@test "a configured hostname is used, lower-cased" {
	client SOVRAN_HOSTNAME=Lab-PC-7
	assert_success
	assert_equal "$(up_arg hostname)" lab-pc-7
	printf 'rack-2\n' >"$CONF/hostname"
	: >"$TAILSCALE_STANDIN_DIR/argv.log"
	rm -f "$TAILSCALE_STANDIN_DIR/state"
	client
	assert_success
	assert_equal "$(up_arg hostname)" rack-2
}

@test "an invalid configured hostname is refused before any request" {
	local before name
	before=$(register_lines)
	for name in -lead trail- under_score 'sp ace' \
	    "$(printf 'x%.0s' {1..64})"; do
		client SOVRAN_HOSTNAME="$name"
		assert_failure 1
	done
	assert_equal "$(register_lines)" "$before"
}

@test "a node already running is left alone, no key is asked for" {
	local before
	client
	assert_success
	before=$(register_lines)
	client
	assert_success
	assert_equal "$stderr" "Tailscale is already running, nothing to do"
	assert_equal "$(register_lines)" "$before"
	assert_equal "$(grep -c '^up ' "$TAILSCALE_STANDIN_DIR/argv.log")" 1
}

@test "tailscale failing is exit 5, and the key file is still removed" {
	echo fail >"$TAILSCALE_STANDIN_DIR/fault"
	client
	assert_failure 5
	run -0 grep -c 'tailscale up failed' "$CLIENT_LOG"
	run -0 find "$CLIENT_TMP" -mindepth 1
	assert_output ''
}

@test "a bad environment value is exit 1" {
	client SOVRAN_MAX_ATTEMPTS=many
	assert_failure 1
	run -0 grep -c 'SOVRAN_MAX_ATTEMPTS must be' "$CLIENT_LOG"
}

# odd_server ARGS...: a real Caddy on a free loopback port answering every
# request the same way (caddy respond ARGS), standing where the API should
# be: the provisioning programs cannot be made to answer like this.
odd_server() {
	local port
	port=$(free_port)
	setsid env -i PATH=/usr/bin:/bin HOME="$BATS_TEST_TMPDIR" \
	    XDG_DATA_HOME="$BATS_TEST_TMPDIR/caddy" \
	    XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/caddy" \
	    "$CADDY" respond --listen "127.0.0.1:$port" "$@" \
	    </dev/null >"$BATS_TEST_TMPDIR/odd.log" 2>&1 3>&- &
	ODD_PID=$!
	wait_until "$STACK_WAIT" curl -s -o /dev/null "http://127.0.0.1:$port/"
	printf 'http://127.0.0.1:%s\n' "$port" >"$CONF/provisioner-url"
}

@test "a redirect is not followed: exit 4" {
	odd_server --status 302 --header "Location: $STACK_URL/register"
	client
	assert_failure 4
	run -0 grep -c 'answered HTTP 302; redirects are not followed' "$CLIENT_LOG"
	refute_up
}

@test "a 200 without a usable key or login server: exit 4, nothing left" {
	local body
	for body in '' 'not json' '[]' '{"login_server": "https://hs.test"}' \
	    '{"headscale_key": "two words", "login_server": "https://hs.test"}' \
	    '{"headscale_key": 12345, "login_server": "https://hs.test"}' \
	    '{"headscale_key": "hskey-auth-x", "login_server": "ftp://hs.test"}' \
	    '{"headscale_key": "hskey-auth-x"}'; do
		odd_server --status 200 --body "$body"
		client
		assert_failure 4
		refute_up
		run -0 find "$CLIENT_TMP" -mindepth 1
		assert_output ''
		pid_stop "$ODD_PID"
		ODD_PID=
	done
}

_listening() {
	[[ -n $(ss -ltnH "sport = :$1") ]]
}

# stream_server: a server that answers every request with a chunked 200
# (no Content-Length) and streams until the client goes away or 64 MiB
# are sent, writing how many bytes it sent to $BATS_TEST_TMPDIR/sent. No
# Caddy directive streams without end, so this is a few lines of Perl
# (perl-base, on every Debian system).
stream_server() {
	local port
	port=$(free_port)
	setsid perl -MIO::Socket::INET -e '
		$SIG{PIPE} = "IGNORE";
		my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		    LocalPort => $ARGV[0], Listen => 5, ReuseAddr => 1) or die;
		my $chunk = "a" x 65536;
		my $sent = 0;
		while (my $c = $l->accept) {
			while (defined(my $line = <$c>)) { last if $line =~ /^\r?$/ }
			print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" .
			    "Transfer-Encoding: chunked\r\n\r\n";
			print $c "13\r\n{\"headscale_key\":\"a\r\n";
			while ($sent < 64 << 20) {
				last unless print $c sprintf("%x\r\n%s\r\n", length $chunk, $chunk);
				$sent += length $chunk;
			}
			close $c;
			open(my $f, ">", $ARGV[1]) or die;
			print $f "$sent\n";
			close $f;
		}' "$port" "$BATS_TEST_TMPDIR/sent" \
	    </dev/null >"$BATS_TEST_TMPDIR/stream.log" 2>&1 3>&- &
	ODD_PID=$!
	wait_until "$STACK_WAIT" _listening "$port"
	printf 'http://127.0.0.1:%s\n' "$port" >"$CONF/provisioner-url"
}

@test "an endless chunked answer is cut at 64 KiB: exit 4, nothing left" {
	stream_server
	client SOVRAN_MAX_ATTEMPTS=1 SOVRAN_HTTP_TIMEOUT=20
	assert_failure 4
	run -0 grep -c 'longer than 65536 bytes' "$CLIENT_LOG"
	refute_up
	run -0 find "$CLIENT_TMP" -mindepth 1
	assert_output ''
	# The client hung up: the server got to send what the socket buffers
	# hold, not the 64 MiB it would have (or curl's 20 s worth).
	wait_until 10 test -s "$BATS_TEST_TMPDIR/sent"
	sent=$(<"$BATS_TEST_TMPDIR/sent")
	echo "server sent $sent bytes"
	((sent < 16 << 20))
}

@test "an answer over 64 KiB with a Content-Length: exit 4 too" {
	odd_server --status 200 --body "{\"headscale_key\": \"$(head -c 70000 /dev/zero | tr '\0' a)\"}"
	client SOVRAN_MAX_ATTEMPTS=1
	assert_failure 4
	run -0 grep -c 'longer than 65536 bytes' "$CLIENT_LOG"
	refute_up
}

@test "a key with a control character, a trailing newline included, is refused: exit 4" {
	local key
	for key in 'hskey-auth-x\n' 'hskey-auth-x\nmore' '\nhskey-auth-x' 'hskey\tauth' 'hskey-auth-x\r'; do
		odd_server --status 200 --body "{\"headscale_key\": \"$key\", \"login_server\": \"https://hs.test\"}"
		client SOVRAN_MAX_ATTEMPTS=1
		assert_failure 4
		run -0 grep -c 'no usable headscale_key' "$CLIENT_LOG"
		refute_up
		pid_stop "$ODD_PID"
		ODD_PID=
	done
}

@test "a token over 512 characters is refused before it is sent: exit 1" {
	local before
	before=$(wc -l <"$STACK_LOGS/register.log")
	(umask 077 && head -c 513 /dev/zero | tr '\0' a >"$CONF/enroll-token")
	client
	assert_failure 1
	run -0 grep -c 'enroll-token is too long' "$CLIENT_LOG"
	assert_equal "$(wc -l <"$STACK_LOGS/register.log")" "$before"
	refute_up
}

@test "a Retry-After above SOVRAN_RETRY_AFTER_MAX waits only the maximum" {
	odd_server --status 429 --header 'Retry-After: 3600' \
	    --body '{"error": "too many attempts"}'
	# timeout: were the header obeyed, the client would sleep an hour.
	client_cmd SOVRAN_RETRY_AFTER_MAX=1 SOVRAN_MAX_ATTEMPTS=2
	CLIENT_LOG="$BATS_TEST_TMPDIR/client.log"
	run --separate-stderr timeout 60 "${CLIENT_CMD[@]}"
	printf '%s\n' "$stderr" >"$CLIENT_LOG"
	assert_failure 3
	run -0 grep -c 'HTTP 429, retrying in 1s$' "$CLIENT_LOG"
	refute_up
}
