#!/usr/bin/env bats
#
# rel-secrets.bats: where the enrollment token and the issued keys go, and
# where they never go. Not into any log (the programs' stderr, Caddy's
# access and error logs), whatever the request and however it ends; not
# onto any process's command line, nor into the programs' or headscale's
# environment, while a registration is in flight (sampled from /proc all
# along a slow one); not into the database, as text or as bytes in its
# files. And the token file the bootstrap writes is 0600 whatever the
# umask it runs under.
#
# The test client itself keeps the token off its command line too (curl
# reads the header from a file), so that any hit is the service's.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	stack_start --workers 2
	export KEYS="$BATS_FILE_TMPDIR/keys"
	export TOKEN_PATTERN="$BATS_FILE_TMPDIR/token-pattern"
	export AUTH_HEADER="$BATS_FILE_TMPDIR/auth-header"
	: >"$KEYS"
	(
		umask 077
		printf '%s\n' "$STACK_TOKEN" >"$TOKEN_PATTERN"
		printf 'Authorization: Bearer %s\n' "$STACK_TOKEN" >"$AUTH_HEADER"
		printf 'Authorization: Bearer %s\n' "$STACK_ADMIN_TOKEN" \
		    >"$BATS_FILE_TMPDIR/admin-header"
	)
}

teardown_file() {
	stack_stop
}

teardown() {
	hs_fault_clear
}

# enroll HOSTNAME MAC: POST /register with the token from a file; sets
# HTTP_STATUS and HTTP_BODY, and keeps any key returned in $KEYS.
enroll() {
	http POST /register -H "@$AUTH_HEADER" \
	    -H 'Content-Type: application/json' \
	    --data-binary "$(register_body "$1" "$2")"
	if [[ $HTTP_STATUS == 200 ]]; then
		jq -r .headscale_key <<<"$HTTP_BODY" >>"$KEYS"
	fi
}

# known_secrets_in FILE...: prints the lines of the files holding the
# token or a key handed out in this suite (or the secret half of one).
# Patterns are read from files, so they are on no command line either.
known_secrets_in() {
	local patterns="$BATS_TEST_TMPDIR/patterns"
	cat "$TOKEN_PATTERN" "$KEYS" >"$patterns"
	sed -n 's/^hskey-auth-.\{12\}-//p' "$KEYS" >>"$patterns"
	grep -a -H -F -f "$patterns" "$@" || true
}

# secrets_in FILE...: the same, and anything shaped like a 0.28 key, for
# files only this suite's stack writes.
secrets_in() {
	known_secrets_in "$@"
	grep -a -H -E 'hskey-auth-[A-Za-z0-9_-]{12}-[A-Za-z0-9_-]{64}' "$@" ||
	    true
}

@test "registrations however they end leave the token and keys out of every log" {
	local i
	for i in 1 2 3; do
		enroll secret-$i aa:bb:cc:00:90:0$i
		assert_equal "$HTTP_STATUS" 200
		assert_equal "$(header Cache-Control)" no-store
	done
	assert_equal "$(wc -l <"$KEYS")" 3
	# Refused, malformed and failed ones, with the token on the wire.
	register secret-x aa:bb:cc:00:90:10 "${STACK_TOKEN}x"
	assert_equal "$HTTP_STATUS" 401
	# A key sent back as a hostname: refused, and not logged either.
	printf '{"hostname":"%s"}' "$(head -n 1 "$KEYS")" >"$BATS_TEST_TMPDIR/body"
	http POST /register -H "@$AUTH_HEADER" \
	    --data-binary "@$BATS_TEST_TMPDIR/body"
	assert_equal "$HTTP_STATUS" 400
	hs_fault garbage
	enroll secret-g aa:bb:cc:00:90:11
	assert_equal "$HTTP_STATUS" 502
	hs_fault_clear
	http GET /machines -H "@$BATS_FILE_TMPDIR/admin-header"
	assert_equal "$HTTP_STATUS" 200
	# Each line is in the logs by the time the next request is answered;
	# this one makes sure of the last.
	http GET /health
	wait_until 10 grep -q '^machines ' "$STACK_LOGS/machines.log"

	run -0 secrets_in "$STACK_LOGS"/*.log
	assert_output ''
	# The check finds what it looks for: each key, and the token.
	run -0 secrets_in "$KEYS" "$TOKEN_PATTERN"
	assert_equal "${#lines[@]}" 7
	# The logs are not empty by accident.
	[[ -s $STACK_LOGS/access.log && -s $STACK_LOGS/register.log ]]
}

# sample_procs STOP OUT: until STOP exists, appends every process's command
# line to OUT, and the environment of every process run from the build
# tree (the programs and the stand-in) to OUT.env; the rounds done go to
# OUT.rounds. Builtins only, so sampling starts no process of its own.
sample_procs() {
	local stop=$1 out=$2 p rounds=0
	local -a words
	while [[ ! -e $stop ]]; do
		for p in /proc/[0-9]*; do
			mapfile -d '' -t words 2>/dev/null <"$p/cmdline" || continue
			((${#words[@]} > 0)) || continue
			printf '%s\n' "${words[*]}" >>"$out"
			if [[ ${words[0]} == "$TOP_BUILDDIR"/* ]]; then
				mapfile -d '' -t words 2>/dev/null \
				    <"$p/environ" || continue
				printf '%s\n' "${words[@]}" >>"$out.env"
			fi
		done
		rounds=$((rounds + 1))
	done
	echo "$rounds" >"$out.rounds"
}

@test "a slow registration: no secret on any command line or in the programs' environment" {
	local stop="$BATS_TEST_TMPDIR/stop" out="$BATS_TEST_TMPDIR/procs" sampler
	# Minting the key takes 3 s: the sampler sees headscale at work.
	echo 'slow 3' >"$STACK_HS_STATE/fault.preauthkeys"
	sample_procs "$stop" "$out" 3>&- &
	sampler=$!
	enroll slow-1 aa:bb:cc:00:90:20
	touch "$stop"
	wait "$sampler"
	assert_equal "$HTTP_STATUS" 200
	echo "rounds: $(cat "$out.rounds"), lines: $(wc -l <"$out")"

	# The sampler caught headscale minting this key, and the programs.
	grep -q -- 'preauthkeys create' "$out"
	grep -q -- "$TOP_BUILDDIR/cgi-bin/register" "$out"
	grep -q -- 'HEADSCALE_CONFIG=' "$out.env"
	# Known secrets only: whatever else runs on the machine meanwhile
	# may well hold key-shaped strings of its own.
	run -0 known_secrets_in "$out" "$out.env"
	assert_output ''
}

@test "the database holds no key, as text or as bytes in its files" {
	local f
	enroll db-1 aa:bb:cc:00:90:30
	assert_equal "$HTTP_STATUS" 200
	sqlite3 "$STACK_DB" .dump >"$BATS_TEST_TMPDIR/dump"
	# The dump is the real thing: it holds the registrations.
	grep -q db-1 "$BATS_TEST_TMPDIR/dump"
	run -0 secrets_in "$BATS_TEST_TMPDIR/dump"
	assert_output ''
	for f in "$STACK_DB" "$STACK_DB-wal" "$STACK_DB-shm"; do
		[[ -e $f ]] || continue
		run -0 secrets_in "$f"
		assert_output ''
	done
}

@test "the bootstrap writes the token file 0600 even under umask 000" {
	local dir="$BATS_TEST_TMPDIR/boot" owner=nobody said
	mkdir -p "$dir/headscale"
	printf 'server_url: %s\n' "$HEADSCALE_TEST_URL" >"$dir/headscale/config.yaml"
	if [[ $(id -u) -ne 0 ]]; then
		owner=$(id -un)
	fi
	run -0 sh -c 'umask 000 && exec "$@"' sh env -i \
	    PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    PROVISIONER_DATA_DIR="$dir/data" HEADSCALE_BIN="$HS_STANDIN" \
	    HEADSCALE_CONFIG="$dir/headscale/config.yaml" \
	    PROVISIONER_USER="$owner" BOOTSTRAP_WAIT=10 HEADSCALE_TIMEOUT=5 \
	    "$TOP_BUILDDIR/bootstrap/sovran-provisioner-bootstrap"
	said=$output
	run -0 stat -c '%a' "$dir/data/enroll-token" "$dir/data/provisioner.db"
	assert_output $'600\n600'
	# The token is in the file and nowhere in what the bootstrap said.
	run -0 cat "$dir/data/enroll-token"
	assert_output --regexp '^[0-9a-f]{64}$'
	[[ $said != *"$output"* ]]
}

# token_on_command_line FILE...: "file:line: text" for every line that
# would put a token into a command's arguments, where the process list
# shows it to every user: a curl header built from a variable or a file's
# contents, an env(1) or curl command line with a Bearer expansion, a
# token read into an argument with $(cat ...), a token in a curl URL. The
# ways that keep it off are a header file (curl -H @FILE, written by the
# printf builtin under umask 077) or curl --config - on a pipe.
token_on_command_line() {
	grep -n -H -E \
	    -e '(-H|--header)[ =]*["'\'']?[^"'\''@ ]*[^"'\''@]*(Authorization|Token|Bearer|Cookie)[^"'\'']*\\?\$' \
	    -e '\b(curl|wget|env)\b[^|]*Bearer +\\?\$' \
	    -e 'Bearer +\\?\$\( *(cat|tr|head|<)[^)]*token' \
	    -e '\bcurl\b[^|]*[?&][A-Za-z_]*token=\\?\$' \
	    -e '\bcurl\b[^|]*\$\( *(cat|tr|head|<)[^)]*token' \
	    "$@" || true
}

@test "the token-on-a-command-line check finds what it is for" {
	local bad="$BATS_TEST_TMPDIR/bad.md"
	cat >"$bad" <<-'EOF'
	curl -s -H "Authorization: Bearer $(cat /var/lib/sovran-provisioner/enroll-token)" https://x/machines
	  curl -sS -X POST -H "Authorization: Bearer \$(cat $q_token)" \\
	code=$(curl -sS -H "Authorization: Bearer $(tr -d '\n' <"$token_file")" "$url")
	http GET /machines -H "Authorization: Bearer $STACK_TOKEN"
	auth_as 401 -H "X-Token: $STACK_TOKEN"
	env -i HTTP_AUTHORIZATION="Bearer $STACK_TOKEN" ./register
	curl "http://127.0.0.1/register?access_token=$STACK_TOKEN"
	wget --header="Authorization: Bearer $tok" https://x/
	EOF
	run -0 token_on_command_line "$bad"
	echo "$output"
	assert_equal "$(grep -c . <<<"$output")" "$(grep -c . "$bad")"

	# And what keeps the token off command lines passes.
	cat >"$bad" <<-'EOF'
	printf 'header = "Authorization: Bearer %s"\n' "$(cat /var/lib/sovran-provisioner/enroll-token)" |
	  curl -s --config - https://prov.example.net/machines | jq .
	http GET /machines -H @"$(auth_file "$STACK_TOKEN")"
	(umask 077 && printf 'Authorization: Bearer %s\n' "$s_token" >"$work/auth")
	curl -H @"$tmp/auth" -H 'Content-Type: application/json' https://x/register
	http GET /machines -H 'Authorization: Bearer wrong'
	EOF
	run -0 token_on_command_line "$bad"
	assert_output ''
}

@test "no command in the docs, man pages, scripts, tests or bench puts a token on a command line" {
	local -a files
	mapfile -t files < <(find "$TOP_SRCDIR"/README "$TOP_SRCDIR"/docs \
	    "$TOP_SRCDIR"/scripts "$TOP_SRCDIR"/tests "$TOP_SRCDIR"/bench \
	    "$TOP_SRCDIR"/client "$TOP_SRCDIR"/nix "$TOP_SRCDIR"/systemd \
	    -type f \( -name '*.md' -o -name '*.[0-9]' -o -name '*.bats' \
	    -o -name '*.bash' -o -name '*.sh' -o -name '*.nix' -o -name '*.in' \
	    -o -name README -o -name run -o -name sovran-auto-provision \
	    -o -name deploy-tailscale-connect \) 2>/dev/null |
	    grep -v '/rel-secrets\.bats$' | sort)
	((${#files[@]} > 40)) || fail "only ${#files[@]} files found"
	run -0 token_on_command_line "${files[@]}"
	assert_output ''
}
