#!/bin/sh
# build-deb.sh TOP_SRCDIR TOP_BUILDDIR OUTDIR [REVISION]: builds the Debian
# packages from a copy of the distributed tree (make distdir) with debian/
# beside it, in OUTDIR, so the source tree is never written to. The .debs
# land in OUTDIR; the build log is OUTDIR/build.log.
#
# With REVISION, the changelog gets a new top entry with that Debian
# revision of the same version and the example environment a new last
# line, so the result upgrades the first build and changes its conffile.
# Run it on an OUTDIR a first build used: that tree is copied and rebuilt
# without cleaning, which only repackages.
set -eu

top_srcdir=$1 top_builddir=$2 out=$3 rev=${4:-}
version=$(sed -n 's/^AC_INIT(\[[^]]*\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
src="$out/sovran-provisioner-$version"
unset MAKEFLAGS MFLAGS MAKELEVEL

if [ -z "$rev" ]; then
	mkdir -p "$out"
	make -s -C "$top_builddir" distdir distdir="$src" >/dev/null
	cp -R "$top_srcdir/debian" "$src/"
	flags=
else
	prev=$src
	out="$out/$rev"
	src="$out/sovran-provisioner-$version"
	mkdir -p "$out"
	cp -a "$prev" "$out/"
	{
		printf 'sovran-provisioner (%s-%s) unstable; urgency=medium\n\n' \
		    "$version" "$rev"
		printf '  * Rebuilt with a changed example environment.\n\n'
		printf ' -- Test <test@example.invalid>  %s\n\n' "$(date -R)"
		cat "$src/debian/changelog"
	} >"$out/changelog"
	mv "$out/changelog" "$src/debian/changelog"
	echo '# changed in the upgrade test' >>"$src/systemd/environment.in"
	rm -f "$src/debian/files"
	flags=-nc
fi
cd "$src"
# shellcheck disable=SC2086 # flags is empty or one word
if ! nice dpkg-buildpackage -us -uc -b $flags >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	exit 1
fi
