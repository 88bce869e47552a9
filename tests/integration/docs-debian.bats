#!/usr/bin/env bats
# docs-debian.bats: the guide's Debian setup, run as written.
#
# Every shell command of "Server setup on Debian" in
# docs/remote-deploy-headscale.md is taken in order and run in one shell
# against a scratch root: absolute paths under /etc, /usr and /var point
# into it, the build is configured with the guide's options in a fresh
# build directory and installed there (DESTDIR), systemd-sysusers writes
# the scratch root's user database, and "headscale" is the 0.28 stand-in.
# What cannot run here is not run, but still checked: the packages
# apt-get would install exist, every unit systemctl names is one the
# install shipped or one of Debian's, and Headscale is checked and
# restarted after its files are written (the .deb starts it with its
# example configuration, and a running service does not reread them).
# The result is checked too: the Headscale configuration passes
# tests/deploy/check-headscale-config, the environment names the real
# server, the Caddyfile validates with the names from Caddy's drop-in,
# and the firewall parses.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

GUIDE="$TOP_SRCDIR/docs/remote-deploy-headscale.md"

# debian_commands: the commands of the Debian section's sh blocks, one per
# line, backslash continuations joined.
debian_commands() {
	awk '/^## Server setup on Debian/ { want = 1; next }
	    want && /^## / { exit }
	    want && /^```sh/ { inb = 1; next }
	    inb && /^```/ { inb = 0; next }
	    inb {
		line = $0
		if (line ~ /\\$/) { sub(/[ \t]*\\$/, "", line); cont = cont line " "; next }
		line = cont line; cont = ""
		sub(/^[ \t]+/, "", line)
		if (line != "") print line
	    }' "$GUIDE"
}

setup_file() {
	: "${TOP_SRCDIR:?}" "${TOP_BUILDDIR:?}"
	debian_commands >"$BATS_FILE_TMPDIR/commands"
}

@test "the Debian section yields its commands" {
	run -0 wc -l <"$BATS_FILE_TMPDIR/commands"
	((output >= 20)) || fail "only $output commands found"
}

# writes_headscale CMD: does CMD write a file under /etc/headscale?
writes_headscale() {
	[[ $1 =~ (\>|tee|install|cp|mv|sed\ -i|editor|vi|nano).*/etc/headscale/ ]]
}

@test "Headscale is checked and restarted after each change of its files" {
	local -a cmds
	local i j pending=0 checked=0 where=
	mapfile -t cmds <"$BATS_FILE_TMPDIR/commands"
	for ((i = 0; i < ${#cmds[@]}; i++)); do
		if writes_headscale "${cmds[i]}"; then
			pending=1 checked=0 where=${cmds[i]}
		elif [[ ${cmds[i]} == *'headscale configtest'* ]]; then
			checked=1
		elif [[ ${cmds[i]} =~ ^systemctl\ (restart|try-restart)\ .*headscale ]]; then
			((pending == 0 || checked)) ||
			    fail "restarted before configtest after: $where"
			pending=0
		elif [[ ${cmds[i]} =~ ^systemctl\ .*headscale ]] && ((pending)); then
			fail "\"${cmds[i]}\" does not load what was written by: $where"
		fi
	done
	((pending == 0)) || fail "not restarted after: $where"
	# The section really writes Headscale's files (or this proved nothing).
	for ((j = 0; j < ${#cmds[@]}; j++)); do
		writes_headscale "${cmds[j]}" && return 0
	done
	fail "no command writes /etc/headscale"
}

@test "the guide's own procedure for later changes checks and restarts" {
	run -0 awk '/^### Changing Headscale.s configuration/ { want = 1; next }
	    want && /^#/ { exit }
	    want && /^```sh/ { inb = 1; next }
	    inb && /^```/ { exit }
	    inb { print }' "$GUIDE"
	assert_line --index 0 'runuser -u headscale -- headscale configtest'
	assert_line --index 1 'systemctl restart headscale.service'
}

@test "the packages apt-get installs exist, jq and curl among them" {
	local line pkgs p missing=
	line=$(grep -m 1 '^apt-get install [a-z]' "$BATS_FILE_TMPDIR/commands")
	[[ -n $line ]] || fail "no apt-get install line"
	read -r -a pkgs <<<"${line#apt-get install }"
	for p in jq curl sqlite3 caddy; do
		printf '%s\n' "${pkgs[@]}" | grep -qxF "$p" || fail "$p is not installed by: $line"
	done
	command -v apt-cache >/dev/null || skip "no apt-cache here"
	for p in "${pkgs[@]}"; do
		apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p' |
		    grep -qv '(none)' || missing+=" $p"
	done
	[[ -z $missing ]] || fail "no such Debian package:$missing"
}

# translate CMD: CMD as it runs in the scratch root, or "#" plus why not.
translate() {
	local c=$1
	case $c in
	'apt-get '*) echo "# not run: installs packages" ;;
	./autogen.sh) echo "# not run: the source tree is already generated" ;;
	'./configure '*)
		echo "mkdir -p \"\$B\" && (cd \"\$B\" && \"\$TOP_SRCDIR/configure\" -q ${c#./configure })" ;;
	make) echo "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j2 -C \"\$B\" >/dev/null" ;;
	'make install')
		echo "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C \"\$B\" install DESTDIR=\"\$ROOT\" >/dev/null" ;;
	systemd-sysusers) echo "systemd-sysusers --root=\"\$ROOT\"" ;;
	'systemctl '*) echo "# not run: $c" ;;
	'curl '*) echo "# not run: needs the real names: $c" ;;
	*)
		# The headscale user is only in the scratch root.
		c=${c#runuser -u headscale -- }
		# shellcheck disable=SC2016 # $ROOT expands when the script runs
		c=$(sed -E 's#(^|[ =>])/(etc|usr|var|root)/#\1$ROOT/\2/#g' <<<"$c")
		# The installed backup tool, its defaults moved into the root.
		if [[ $c == 'sovran-provisioner-backup '* ]]; then
			# shellcheck disable=SC2016 # expanded by the script
			c='env PROVISIONER_DATA_DIR="$ROOT/var/lib/sovran-provisioner"'\
' PROVISIONER_ENV_FILE="$ROOT/etc/sovran-provisioner/environment"'\
' HEADSCALE_STATE_DIR="$ROOT/var/lib/headscale"'\
' HEADSCALE_CONFIG_DIR="$ROOT/etc/headscale"'\
' "$ROOT/usr/sbin/sovran-provisioner-backup"'${c#sovran-provisioner-backup}
		fi
		printf '%s\n' "$c"
		;;
	esac
}

# run_in_root FILE: the guide's commands in FILE, translated, run against
# the scratch root the setup test installed into.
run_in_root() {
	local root="$BATS_FILE_TMPDIR/root" script="$1.sh" c
	{
		echo 'set -euo pipefail'
		while IFS= read -r c; do
			echo "# guide: $c"
			translate "$c"
		done <"$1"
	} >"$script"
	cat "$script"
	run -0 env ROOT="$root" B="$BATS_FILE_TMPDIR/build" TOP_SRCDIR="$TOP_SRCDIR" \
	    HEADSCALE_CONFIG="$root/etc/headscale/config.yaml" \
	    PATH="$BATS_FILE_TMPDIR/bin:$PATH" bash "$script"
}

@test "every command that can run here runs, in order, in a scratch root" {
	command -v systemd-sysusers >/dev/null || skip "systemd-sysusers is not installed"
	local root="$BATS_FILE_TMPDIR/root"
	mkdir -p "$root/etc/headscale" "$root/etc/caddy" "$BATS_FILE_TMPDIR/bin"
	# What the packages provide: the directories of Headscale and Caddy,
	# and the Headscale CLI.
	ln -s "$TOP_BUILDDIR/tests/standin/headscale" "$BATS_FILE_TMPDIR/bin/headscale"
	run_in_root "$BATS_FILE_TMPDIR/commands"
	# Nothing the guide lets run was left out by accident.
	run -0 grep -c '^[^#]' "$BATS_FILE_TMPDIR/commands.sh"
	((output >= 18)) || fail "only $output commands ran"

	# Headscale: the real server, checked like the shipped template.
	"$TOP_SRCDIR/tests/deploy/check-headscale-config" \
	    "$root/etc/headscale/config.yaml" "$root/etc/headscale/acl.hujson"
	grep -qx 'server_url: https://hs.example.net' "$root/etc/headscale/config.yaml"
	# The provisioner's environment.
	grep -qx 'HEADSCALE_URL=https://hs.example.net' "$root/etc/sovran-provisioner/environment"
	# The service user, a member of headscale's group.
	grep -q '^sovran-provisioner:' "$root/etc/passwd"
	grep -q '^headscale:.*sovran-provisioner' "$root/etc/group"
	# Caddy, with the names the drop-in gives it.
	local -a names
	mapfile -t names < <(sed -n 's/^Environment=//p' \
	    "$root/etc/systemd/system/caddy.service.d/sovran-provisioner.conf")
	((${#names[@]} == 2)) || fail "drop-in names: ${names[*]}"
	if command -v "${CADDY:-caddy}" >/dev/null; then
		run -0 env -i PATH="$PATH" HOME="$BATS_FILE_TMPDIR" "${names[@]}" \
		    XDG_CONFIG_HOME="$BATS_FILE_TMPDIR/xdg" XDG_DATA_HOME="$BATS_FILE_TMPDIR/xdg" \
		    "${CADDY:-caddy}" adapt --adapter caddyfile --config "$root/etc/caddy/Caddyfile"
		grep -q '"prov.example.net"' <<<"$output"
		grep -q '"hs.example.net"' <<<"$output"
	fi
	[[ -s $root/etc/nftables.conf ]]
}

@test "every unit systemctl is asked for was installed, or is Debian's" {
	local root="$BATS_FILE_TMPDIR/root" u failures=
	[[ -d $root/usr ]] || skip "the scratch install did not run"
	while IFS= read -r u; do
		case $u in
		headscale.service | caddy.service | nftables.service) continue ;;
		esac
		[[ -n $(find "$root" -name "$u" -path '*/systemd/system/*') ]] ||
		    failures+=" $u"
	done < <(grep '^systemctl ' "$BATS_FILE_TMPDIR/commands" |
	    grep -oE '[a-z0-9-]+\.(service|socket)')
	[[ -z $failures ]] || fail "not installed:$failures"
}

# upgrade_block N: the Nth sh block of the guide's Debian upgrade steps.
upgrade_block() {
	awk -v want="$1" '/^## Upgrading the provisioner/ { up = 1; next }
	    up && /^## / { exit }
	    up && /^### On Debian/ { deb = 1; next }
	    deb && /^### / { exit }
	    deb && /^```sh/ { n++; inb = (n == want); next }
	    inb && /^```/ { inb = 0; next }
	    inb { print }' "$GUIDE"
}

@test "the Debian upgrade, then the way back, keep the data" {
	local root="$BATS_FILE_TMPDIR/root" data rows
	[[ -x $root/usr/sbin/sovran-provisioner-backup ]] || skip "the scratch install did not run"
	command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
	# A server in use: a database with a registration, a token,
	# Headscale's state.
	data="$root/var/lib/sovran-provisioner"
	mkdir -p "$data" "$root/var/lib/headscale" "$root/root"
	sqlite3 "$data/provisioner.db" 'PRAGMA journal_mode=wal;' \
	    'CREATE TABLE machines (id INTEGER PRIMARY KEY, hostname TEXT);' \
	    "INSERT INTO machines (hostname) VALUES ('before');" >/dev/null
	echo 0123456789abcdef >"$data/enroll-token"
	echo key >"$root/var/lib/headscale/noise_private.key"
	cp "$data/enroll-token" "$BATS_TEST_TMPDIR/token-before"

	upgrade_block 1 >"$BATS_TEST_TMPDIR/upgrade"
	grep -qx 'systemctl daemon-reload' "$BATS_TEST_TMPDIR/upgrade" ||
	    fail "the upgrade does not reload systemd"
	[[ $(grep -n 'make install' "$BATS_TEST_TMPDIR/upgrade" | cut -d: -f1) -lt \
	    $(grep -n 'daemon-reload' "$BATS_TEST_TMPDIR/upgrade" | cut -d: -f1) ]] ||
	    fail "daemon-reload before make install"
	run_in_root "$BATS_TEST_TMPDIR/upgrade"
	[[ -s $root/root/sovran-before-upgrade.tar ]] || fail "no backup taken"

	# The new version changed the data.
	sqlite3 "$data/provisioner.db" "INSERT INTO machines (hostname) VALUES ('after');"
	echo changed >"$data/enroll-token"

	upgrade_block 2 >"$BATS_TEST_TMPDIR/rollback"
	run_in_root "$BATS_TEST_TMPDIR/rollback"
	rows=$(sqlite3 "$data/provisioner.db" 'SELECT group_concat(hostname) FROM machines;')
	assert_equal "$rows" before
	cmp "$BATS_TEST_TMPDIR/token-before" "$data/enroll-token"

	upgrade_block 3 >"$BATS_TEST_TMPDIR/headscale"
	grep -qx 'headscale version' "$BATS_TEST_TMPDIR/headscale"
	run_in_root "$BATS_TEST_TMPDIR/headscale"
}
