# package.nix: the client scripts and their systemd units as one package,
# built straight from this source tree (no compiler needed), with
# sovran-deploy-mode's manual page.
#
# The units are the same files `make install` installs; only the
# directory in ExecStart differs. NixOS picks them up through
# systemd.packages, and the modules add what is NixOS-specific (PATH,
# wantedBy) as drop-ins, so the hardening is written down once.
{ runCommand }:

runCommand "sovran-provisioner-client" { } ''
  for script in sovran-auto-provision deploy-tailscale-connect sovran-deploy-mode; do
    install -D -m 0755 ${../.}/$script $out/bin/$script
    install -D -m 0644 ${../.}/$script.service.in \
      $out/lib/systemd/system/$script.service
    substituteInPlace $out/lib/systemd/system/$script.service \
      --replace-fail '@sbindir@' "$out/bin"
  done
  install -D -m 0644 ${../.}/sovran-deploy-mode.timer \
    $out/lib/systemd/system/sovran-deploy-mode.timer
  # The page is a template for configure's paths; it names none, only the
  # package on its footer.
  install -D -m 0644 ${../../docs/man/sovran-deploy-mode.8.in} \
    $out/share/man/man8/sovran-deploy-mode.8
  substituteInPlace $out/share/man/man8/sovran-deploy-mode.8 \
    --replace-fail '@PACKAGE_NAME@ @PACKAGE_VERSION@' 'sovran-provisioner'
  patchShebangs $out/bin
''
