#!/usr/bin/env bats
# shellcheck shell=bash
#
# system.bats: the project installed as the operator's guide says on a
# Debian 12 root, booted with systemd as PID 1 under systemd-nspawn, and
# checked through Caddy from outside and with systemctl from inside: the
# units, the sysusers file, the bootstrap's ordering, the sockets between
# Caddy and the programs and every hardening directive, all in force.
# Then a power cycle and an upgrade over the running system.
#
# Not part of `make check`: `make check-system` runs it, and
# scripts/test-all.sh has it as a stage. It needs root; without root,
# debootstrap or systemd-nspawn, or where nspawn cannot boot, every test
# is skipped with the reason. lib.bash says how the root is built, cached
# and booted. The tests run in order and build on each other.

bats_require_minimum_version 1.5.0
load lib

setup_file() {
	local reason
	reason=$(sys_prereq)
	if [[ -n $reason ]]; then
		export SYS_SKIP="$reason"
		return 0
	fi
	sys_poweroff
	mkdir -p "$SYS_LOG" && : >"$SYS_LOG/console.log"
	sys_unpack
	sys_install_standin
	sys_install_project current
	SYS_PORT=$(sys_free_port)
	SYS_HS_PORT=$(sys_free_port)
	export SYS_PORT SYS_HS_PORT SYS_URL="http://127.0.0.1:$SYS_PORT"
	sys_guide_steps "$SYS_PORT" "$SYS_HS_PORT" >"$SYS_LOG/guide.log" 2>&1 || {
		cat "$SYS_LOG/guide.log" >&2
		return 1
	}
	if ! sys_boot; then
		# systemd never came up as PID 1: this machine cannot boot
		# containers (no cgroup delegation, no namespaces, ...).
		if [[ ! -f $SYS_WORK/leader.pid ]]; then
			SYS_SKIP="systemd-nspawn cannot boot here: $(tail -n 1 "$SYS_LOG/console.log")"
			export SYS_SKIP
			sys_poweroff
			return 0
		fi
		return 1
	fi
	export SYS_DATA="$SYS_ROOT/var/lib/sovran-provisioner"
	export SYS_DB="$SYS_DATA/provisioner.db"
	# Caddy may still be settling; a stack that never answers is for the
	# tests below to report, each naming its own check.
	SYS_WAIT=30 wait_for_health || true
}

teardown_file() {
	[[ -n ${SYS_SKIP-} ]] && return 0
	sys_poweroff
	if [[ -z ${SYS_KEEP-} ]]; then
		rm -rf "$SYS_ROOT"
	fi
}

setup() {
	if [[ -n ${SYS_SKIP-} ]]; then
		skip "$SYS_SKIP"
	fi
}

# http METHOD PATH [curl args...]: sets HTTP_STATUS and HTTP_BODY.
http() {
	local body="${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/body"
	HTTP_STATUS=$(curl -sS -o "$body" -w '%{http_code}' --max-time 30 \
	    -X "$1" "$SYS_URL$2" "${@:3}") || HTTP_STATUS=000
	HTTP_BODY=$(cat "$body" 2>/dev/null)
}

# expect_status CHECK CODE: fails naming CHECK unless the last http call
# answered CODE.
expect_status() {
	if [[ $HTTP_STATUS != "$2" ]]; then
		echo "$1: expected HTTP $2, got $HTTP_STATUS: $HTTP_BODY" >&2
		return 1
	fi
}

wait_for_health() {
	local deadline=$((SECONDS + SYS_WAIT))
	while ((SECONDS < deadline)); do
		http GET /health
		[[ $HTTP_STATUS == 200 ]] && return 0
		sleep 0.5
	done
	expect_status "GET /health through Caddy after boot" 200
}

# auth_file FILE SECRET_FILE: a curl header file carrying the secret in
# SECRET_FILE as a bearer token, written under umask 077 by the shell
# itself, so the secret is never on a command line.
auth_file() {
	(umask 077 && printf 'Authorization: Bearer %s\n' "$(<"$2")" >"$1")
}

register_machine() {
	auth_file "$BATS_TEST_TMPDIR/auth" "$SYS_DATA/enroll-token"
	http POST /register -H "@$BATS_TEST_TMPDIR/auth" \
	    -H 'Content-Type: application/json' \
	    --data-binary "{\"hostname\":\"$1\",\"mac\":\"$2\"}"
}

# machines_with HOSTNAME: how many entries GET /machines lists for it.
machines_with() {
	local secret="$SYS_DATA/admin-token"
	[[ -f $secret ]] || secret="$SYS_DATA/enroll-token"
	auth_file "$BATS_TEST_TMPDIR/admin" "$secret"
	http GET /machines -H "@$BATS_TEST_TMPDIR/admin"
	expect_status "GET /machines through Caddy" 200 || return 1
	jq --arg h "$1" '[.. | objects | select(.hostname? == $h)] | length' \
	    <<<"$HTTP_BODY"
}

# The provisioner's installed units of one type, from inside.
units_of() {
	ct systemctl list-unit-files --no-legend --plain "sovran-provisioner-*.$1" |
		awk '{ print $1 }'
}

db() {
	sqlite3 -batch -noheader "$SYS_DB" "$1"
}

@test "boot: no unit failed" {
	run ct systemctl --failed --no-legend --plain
	if [[ -n $output ]]; then
		echo "failed units after boot:" >&2
		echo "$output" >&2
		ct journalctl -b --no-pager -n 40 -p warning >&2 || true
		return 1
	fi
	run -0 ct systemctl show -P ActiveState sovran-provisioner-bootstrap.service
	[[ $output == active ]] || {
		echo "bootstrap after boot: $output, not active" >&2
		return 1
	}
}

@test "firewall: the shipped rules pass nft -c and load (in a private network namespace)" {
	run sys_firewall
	if ((status == 77)); then
		skip "this kernel offers no nf_tables"
	fi
	((status == 0)) || {
		echo "firewall: loading nftables.conf failed: $output" >&2
		return 1
	}
	[[ $output == *"table inet filter"* && $output == *"policy drop"* ]]
}

@test "health: GET /health answers ok through Caddy" {
	http GET /health
	expect_status "GET /health" 200
	[[ $(jq -r .status <<<"$HTTP_BODY") == ok ]]
}

@test "register: the container's token gets a pre-auth key through Caddy" {
	register_machine sys-test-1 52:54:00:12:34:56
	expect_status "POST /register with the root's enroll-token" 200
	[[ $(jq -r .headscale_key <<<"$HTTP_BODY") == hskey-auth-* ]]
	[[ $(jq -r .login_server <<<"$HTTP_BODY") == https://hs.example.net ]]
}

@test "machines: GET /machines lists the registration" {
	run -0 machines_with sys-test-1
	[[ $output == 1 ]] || {
		echo "/machines lists sys-test-1 $output times: $HTTP_BODY" >&2
		return 1
	}
}

@test "sockets: each listens with the owner, group and mode its unit says, the group Caddy's" {
	local unit listen path want got caddy_group n=0
	caddy_group=$(ct systemctl show -P Group caddy.service)
	for unit in $(units_of socket); do
		n=$((n + 1))
		# "running" once its service has taken the socket over.
		run -0 ct systemctl show -P SubState "$unit"
		[[ $output == listening || $output == running ]] || {
			echo "socket $unit: $output, not listening" >&2
			return 1
		}
		listen=$(ct systemctl show -P Listen "$unit")
		path=${listen%% *}
		want="$(ct systemctl show -P SocketUser "$unit") $(ct systemctl show -P SocketGroup "$unit") $(ct systemctl show -P SocketMode "$unit") socket"
		got=$(ct stat -c '%U %G %04a %F' "$path")
		echo "# $unit: $path $got" >&3
		[[ $got == "$want" ]] || {
			echo "socket $path of $unit: $got, unit says $want" >&2
			return 1
		}
		[[ $got == "sovran-provisioner $caddy_group 0660 socket" ]] || {
			echo "socket $path: $got, documented sovran-provisioner $caddy_group 0660 (Caddy runs as group $caddy_group)" >&2
			return 1
		}
	done
	((n >= 3)) || {
		echo "only $n provisioner sockets installed" >&2
		return 1
	}
}

@test "data: directory, token and database owned and moded as documented" {
	run -0 ct stat -c '%U %04a %F' /var/lib/sovran-provisioner \
	    /var/lib/sovran-provisioner/enroll-token \
	    /var/lib/sovran-provisioner/provisioner.db
	echo "# $(tr '\n' ';' <<<"$output")" >&3
	[[ ${lines[0]} == "sovran-provisioner 0750 directory" ]] || {
		echo "data directory: ${lines[0]}, documented sovran-provisioner 0750" >&2
		return 1
	}
	[[ ${lines[1]} == "sovran-provisioner 0600 regular file" ]] || {
		echo "enroll-token: ${lines[1]}, documented sovran-provisioner 0600" >&2
		return 1
	}
	[[ ${lines[2]} == "sovran-provisioner 0600 regular file" ]] || {
		echo "provisioner.db: ${lines[2]}, expected sovran-provisioner 0600 (UMask=0077)" >&2
		return 1
	}
	run -0 ct cat /var/lib/sovran-provisioner/enroll-token
	[[ $output =~ ^[0-9a-f]{64}$ ]]
}

@test "headscale: the CLI reaches the server's socket through the headscale group only" {
	run -0 ct stat -c '%U %G %04a %F' /run/headscale /run/headscale/headscale.sock
	[[ ${lines[0]} == "headscale headscale 0750 directory" ]]
	[[ ${lines[1]} == "headscale headscale 0770 socket" ]]
	# The service user, with the groups sysusers gave it.
	run -0 ct setpriv --reuid=sovran-provisioner --regid=sovran-provisioner \
	    --init-groups headscale users list -o json
	[[ $(jq -r '[.[].name] | sort | join(",")' <<<"$output") == admin,sovran-deploy ]] || {
		echo "headscale users as sovran-provisioner: $output" >&2
		return 1
	}
	# Anyone else: the real CLI's fatal line, at once.
	run -1 --separate-stderr ct setpriv --reuid=nobody --regid=nogroup \
	    --clear-groups headscale users list -o json
	local sock=/var/run/headscale/headscale.sock
	# shellcheck disable=SC2154 # set by run --separate-stderr
	[[ ${stderr%% *} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ &&
	    ${stderr#* } == "FTL Unable to read/write to headscale socket, do you have the correct permissions? error=\"open $sock: permission denied\" socket=$sock" ]] || {
		echo "headscale as nobody: $stderr" >&2
		return 1
	}
}

@test "hardening: systemd-analyze security exposure of each provisioner unit held at its recorded value" {
	local unit value limit pattern n=0
	for unit in $(units_of service); do
		value=$(ct systemd-analyze security --no-pager "$unit" |
			sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
		limit=
		while read -r pattern max; do
			[[ -z $pattern || $pattern == \#* ]] && continue
			# shellcheck disable=SC2053
			if [[ $unit == $pattern ]]; then
				limit=$max
				break
			fi
		done <"$TOP_SRCDIR/tests/system/exposure"
		echo "# $unit: exposure $value (recorded ${limit:-none})" >&3
		n=$((n + 1))
		[[ -n $value && -n $limit ]] || {
			echo "exposure of $unit: ${value:-not read}, recorded ${limit:-nothing} (tests/system/exposure)" >&2
			return 1
		}
		awk -v v="$value" -v l="$limit" 'BEGIN { exit !(v <= l) }' || {
			echo "exposure of $unit rose to $value, above the recorded $limit" >&2
			ct systemd-analyze security --no-pager "$unit" | grep -v '^✓' >&2
			return 1
		}
	done
	((n >= 4))
}

@test "journal: neither the journal nor Caddy's access log holds the token or a key" {
	local token
	token=$(<"$SYS_DATA/enroll-token")
	run ct journalctl -b --no-pager -o cat
	[[ -n $output ]]
	[[ $output != *"$token"* && $output != *hskey-auth-* ]] || {
		echo "journal holds a secret" >&2
		return 1
	}
	run -0 cat "$SYS_ROOT/var/log/caddy/sovran-provisioner-access.log"
	[[ $output == *'"uri":"/register"'* ]]
	[[ $output != *"$token"* && $output != *hskey-auth-* ]] || {
		echo "Caddy's access log holds a secret" >&2
		return 1
	}
}

@test "reboot: data intact, bootstrap idempotent, sockets back" {
	local token_before users_before rows_before users_after unit
	token_before=$(sha256sum <"$SYS_DATA/enroll-token")
	users_before=$(ct headscale users list -o json | jq -c '[.[] | [.id, .name]]')
	sys_poweroff
	rows_before=$(db 'SELECT count(*) FROM machines')
	((rows_before >= 1))
	sys_boot
	wait_for_health
	[[ $(sha256sum <"$SYS_DATA/enroll-token") == "$token_before" ]] || {
		echo "reboot: the enrollment token changed" >&2
		return 1
	}
	users_after=$(ct headscale users list -o json | jq -c '[.[] | [.id, .name]]')
	[[ $users_after == "$users_before" ]] || {
		echo "reboot: headscale users $users_before became $users_after" >&2
		return 1
	}
	run -0 ct systemctl show -P Result sovran-provisioner-bootstrap.service
	[[ $output == success ]]
	for unit in $(units_of socket); do
		run -0 ct systemctl show -P SubState "$unit"
		[[ $output == listening || $output == running ]] || {
			echo "reboot: $unit is $output" >&2
			return 1
		}
	done
	run -0 machines_with sys-test-1
	[[ $output == 1 ]]
	[[ $(db 'SELECT count(*) FROM machines') == "$rows_before" ]]
	run ct systemctl --failed --no-legend --plain
	[[ -z $output ]] || {
		echo "reboot: failed units: $output" >&2
		return 1
	}
}

@test "upgrade: a newer version keeps rows, applies its migration once, restarts the services" {
	local rows version svc pid pid_before new_version sockets endpoints
	mapfile -t sockets < <(units_of socket)
	mapfile -t endpoints < <(units_of service | grep -v bootstrap)
	version=$(db 'PRAGMA user_version')
	rows=$(db 'SELECT count(*) FROM machines')
	pid_before=$(ct systemctl show -P MainPID sovran-provisioner-health.service)
	((pid_before > 0))
	if sys_deb_tree; then
		# The package restarts what runs (debian/rules).
		sys_install_project newer newer >"$SYS_LOG/upgrade.log" 2>&1 || {
			cat "$SYS_LOG/upgrade.log" >&2
			return 1
		}
	else
		# The guide's "Upgrading the provisioner": sockets and services
		# stopped, a copy of the data directory, the upgrade, sockets
		# started again.
		ct systemctl stop "${sockets[@]}"
		ct systemctl stop "${endpoints[@]}"
		ct cp -a /var/lib/sovran-provisioner /var/lib/sovran-provisioner.before-upgrade
		sys_install_project newer newer >"$SYS_LOG/upgrade.log" 2>&1 || {
			cat "$SYS_LOG/upgrade.log" >&2
			return 1
		}
		ct systemctl daemon-reload
		ct systemctl start "${sockets[@]}"
	fi
	new_version=$(ct /usr/libexec/sovran-provisioner/health --version)
	[[ $new_version == *.1 ]] || {
		echo "upgrade: installed health says $new_version" >&2
		return 1
	}
	wait_for_health
	register_machine sys-test-2 52:54:00:12:34:57
	expect_status "POST /register after the upgrade" 200
	[[ $(db 'PRAGMA user_version') == $((version + 1)) ]] || {
		echo "upgrade: schema version $(db 'PRAGMA user_version'), expected $((version + 1))" >&2
		return 1
	}
	[[ $(db 'SELECT count(*) FROM upgrade_marker') == 1 ]]
	[[ $(db 'SELECT count(*) FROM machines') == $((rows + 1)) ]] || {
		echo "upgrade: $(db 'SELECT count(*) FROM machines') rows, expected $((rows + 1))" >&2
		return 1
	}
	# Every running provisioner program is the new one.
	for svc in "${endpoints[@]}"; do
		pid=$(ct systemctl show -P MainPID "$svc")
		((pid > 0)) || continue
		run -0 ct readlink "/proc/$pid/exe"
		[[ $output != *deleted* ]] || {
			echo "upgrade: $svc still runs the old binary ($output)" >&2
			return 1
		}
	done
	[[ $(ct systemctl show -P MainPID sovran-provisioner-health.service) != "$pid_before" ]]
	# Restarted once more, the migration is not applied again.
	ct systemctl restart "${endpoints[@]}"
	wait_for_health
	run -0 machines_with sys-test-2
	[[ $output == 1 ]]
	[[ $(db 'SELECT count(*) FROM upgrade_marker') == 1 ]] || {
		echo "upgrade: the migration ran $(db 'SELECT count(*) FROM upgrade_marker') times" >&2
		return 1
	}
}
