#!/usr/bin/env bats
# deploy-caddy-directives.bats: every Caddyfile this project ships uses only
# directives that both Debian 12's Caddy 2.6.2 and Caddy 2.8 and later
# accept, as caddy/directives.tsv records them from Caddy's parsers. The
# Caddy installed here is one version, so caddy validate alone cannot tell.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

CHECK="$TOP_SRCDIR/caddy/check-directives"
TABLE="$TOP_SRCDIR/caddy/directives.tsv"

@test "the table: five tab-separated fields, yes or no, one row per key" {
	# shellcheck disable=SC2016 # awk's $1, not the shell's
	run -0 awk -F '\t' '/^#/ || $1 == "key" { next }
	    NF != 5 || $2 !~ /^(yes|no)$/ || $3 !~ /^(yes|no)$/ || $4 !~ /\.go$/ ||
	    $5 == "" { print NR ": " $0 }
	    seen[$1]++ { print NR ": " $1 " twice" }' "$TABLE"
	assert_output ""
}

@test "every shipped Caddyfile passes" {
	local f
	for f in caddy/Caddyfile caddy/Caddyfile.local bench/Caddyfile; do
		run -0 "$CHECK" "$TOP_SRCDIR/$f"
		assert_output --partial "all accepted by Caddy 2.6.2 and 2.8 and later"
	done
}

@test "the check sees every directive of the production Caddyfile" {
	run -0 "$CHECK" -l "$TOP_SRCDIR/caddy/Caddyfile"
	assert_line --partial $'global/servers/protocols\t'
	assert_line --partial $'site/reverse_proxy/header_down\t'
	assert_line --partial $'site/reverse_proxy/transport fastcgi/split\t'
	assert_line --partial $'site/request_body/max_size\t'
	assert_line --partial $'matcher/path\t'
	# Nothing unnamed: a parsing slip would show as an empty last part.
	refute_line --regexp $'/\t'
}

@test "request buffering as 2.6.2 spells it is refused (Caddy 2.8 removed it)" {
	cat >"$BATS_TEST_TMPDIR/Caddyfile" <<-'CADDY'
	prov.example.org {
		handle /register {
			reverse_proxy unix//run/x.sock {
				transport fastcgi {
					split /register
				}
				buffer_requests
				max_buffer_size 64KiB
			}
		}
	}
	CADDY
	run -1 "$CHECK" "$BATS_TEST_TMPDIR/Caddyfile"
	assert_line --partial 'site/reverse_proxy/buffer_requests: Caddy 2.6.2 accepts it, Caddy 2.8 and later reject it'
	assert_line --partial 'site/reverse_proxy/max_buffer_size'
}

@test "the spelling of 2.8 is refused too (2.6.2 does not know it)" {
	printf '\treverse_proxy 127.0.0.1:1 {\n\t\trequest_buffers 64KiB\n\t}\n' >"$BATS_TEST_TMPDIR/body"
	run -1 "$CHECK" -s "$BATS_TEST_TMPDIR/body"
	assert_output --partial 'request_buffers: Caddy 2.6.2 rejects it, Caddy 2.8 and later accept it'
}

@test "a directive the table does not know fails, naming it" {
	run -1 "$CHECK" - <<<$'x {\n\ttry_files {path}\n}'
	assert_output --partial 'stdin:2: site/try_files is not in the table'
}

@test "quoted braces and comments do not confuse it; unbalanced text fails" {
	# shellcheck disable=SC2016 # Caddy's backquotes, literally
	printf 'x {\n\trespond `{"a":"}"}` 404 # {\n\theader X "{"\n}\n' >"$BATS_TEST_TMPDIR/q"
	run -0 "$CHECK" "$BATS_TEST_TMPDIR/q"
	printf 'x {\n\thandle {\n}\n' >"$BATS_TEST_TMPDIR/open"
	run -1 "$CHECK" "$BATS_TEST_TMPDIR/open"
	assert_output --partial 'not closed'
}
