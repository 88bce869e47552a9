# package.nix: builds sovran-provisioner from this source tree with
# nixpkgs' stdenv. The headscale CLI path is compiled in, so the programs
# never depend on a PATH (a NixOS unit's PATH does not include system
# packages). The unit files are installed under $out and name /etc for the
# shared environment file.
{
  lib,
  stdenv,
  autoreconfHook,
  autoconf-archive,
  pkg-config,
  fcgi,
  json-c,
  sqlite,
  headscale,
}:

stdenv.mkDerivation {
  pname = "sovran-provisioner";
  version = "0.1.0";

  src = lib.cleanSource ../.;

  nativeBuildInputs = [
    autoreconfHook
    autoconf-archive
    pkg-config
  ];
  buildInputs = [
    fcgi
    json-c
    sqlite
  ];

  configureFlags = [
    "--with-headscale=${headscale}/bin/headscale"
    # Read at run time from the real /etc; nothing is installed there.
    "--sysconfdir=/etc"
    "--with-systemdsystemunitdir=${placeholder "out"}/lib/systemd/system"
  ];

  # The test suite drives a real Caddy and the programs over loopback; CI
  # runs it. The sandbox build only compiles and installs.
  doCheck = false;

  meta = {
    description = "Hands one-use Headscale pre-auth keys to freshly booted machines";
    platforms = lib.platforms.linux;
    mainProgram = "sovran-provisioner-bootstrap";
  };
}
