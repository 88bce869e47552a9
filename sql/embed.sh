#!/bin/sh
# embed.sh: turns the numbered migrations into lib/migrations.c, so every
# program carries its schema inside its binary.
#
# Usage: embed.sh SRCDIR NNN-name.sql... >migrations.c
# The files are named relative to SRCDIR and must be numbered 001, 002, ...
# in the order given: migration N takes the schema from user_version N-1 to
# N, and a gap or a duplicate would silently skip or repeat one.
set -eu

if [ "$#" -lt 2 ]; then
	echo "usage: embed.sh SRCDIR NNN-name.sql..." >&2
	exit 2
fi
srcdir=$1
shift

cat <<'HEAD'
/* Generated from sql/NNN-*.sql by sql/embed.sh; edit those, not this. */
#include "config.h"

#include <stddef.h>

#include "migrations.h"

const char *const prov_migrations[] = {
HEAD

n=0
for f in "$@"; do
	n=$((n + 1))
	name=${f##*/}
	want=$(printf '%03d' "$n")
	case $name in
	"$want"-*.sql) ;;
	*)
		echo "embed.sh: $name: expected migration number $want" >&2
		exit 1
		;;
	esac
	printf '\t/* %s */\n\t(\n' "$name"
	# Comment-only and blank lines are dropped; what remains becomes one
	# C string per line. Backslash, quote and '?' (trigraphs) are escaped.
	# The parentheses tell clang the concatenation is meant
	# (-Wstring-concatenation flags a two-line migration otherwise).
	sed -e '/^[[:space:]]*--/d' -e '/^[[:space:]]*$/d' \
	    -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
	    -e 's/^/	"/' -e 's/$/\\n"/' "$srcdir/$f"
	printf '\t),\n'
done

cat <<'TAIL'
};

const size_t prov_migrations_count =
    sizeof(prov_migrations) / sizeof(prov_migrations[0]);
TAIL
