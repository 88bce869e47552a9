#!/bin/sh
# Regenerates the build system from configure.ac and the Makefile.am files.
set -eu
cd "$(dirname "$0")"
mkdir -p m4
autoreconf --force --install --verbose
