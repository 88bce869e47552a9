# iso.nix: the live ISO's side of remote deployment. Import it into the
# ISO's configuration and set sovran.autoProvision.enable = true.
#
# At boot, sovran-auto-provision reads /etc/sovran/provisioner-url and
# /etc/sovran/enroll-token, asks the API for a one-use pre-auth key and
# joins the tailnet. Without the token it logs that it skips and exits 0,
# so one image also serves machines that are not deployed remotely.
#
# Where the token comes from, honestly: anything Nix reads while building
# (a path literal, builtins.readFile, environment.etc.<name>.source or
# .text) is copied into the Nix store, which is world-readable on the build
# machine, in any binary cache it is pushed to, and inside the ISO's own
# /nix/store. Setting mode = "0600" on an environment.etc entry protects
# only the copy in /etc, never the store path behind it. There is no way
# to put a file into /etc at build time without the store.
#
# So the token is not part of the build at all. enrollTokenFile names a
# file on the *booted* system, outside the store; an activation script
# copies it to /etc/sovran/enroll-token (root, 0600) at every boot. The
# default is /iso/sovran/enroll-token, i.e. a file added to the ISO 9660
# filesystem (mounted at /iso on a NixOS live system) after `nix build`:
#
#   xorriso -indev result/iso/<name>.iso -outdev sovran-deploy.iso \
#     -map enroll-token /sovran/enroll-token \
#     -chmod 0600 /sovran/enroll-token -chown 0 /sovran/enroll-token \
#     -chgrp 0 /sovran/enroll-token -boot_image any replay
#
# That keeps the token out of every store, and Rock Ridge keeps the
# 0600 root mode on /iso. What remains is true of any design that boots
# unattended: the ISO image itself is the secret container. Whoever holds
# the image or the USB stick holds the token, so treat it like the token
# (and rotate the token when an image goes astray).
#
# The URL is not a secret, so provisionerUrl goes into the store as usual.
{ config, lib, pkgs, ... }:

let
  cfg = config.sovran.autoProvision;
  client = pkgs.callPackage ./package.nix { };
in
{
  options.sovran.autoProvision = {
    enable = lib.mkEnableOption "joining the tailnet through the provisioning API at boot";

    provisionerUrl = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "https://prov.example.net";
      description = ''
        Base URL of the provisioning API, written to
        /etc/sovran/provisioner-url. Null leaves that file alone (for
        example to provide it like the token).
      '';
    };

    enrollTokenFile = lib.mkOption {
      # A string, not a path: a path value would be copied into the store.
      type = lib.types.str;
      default = "/iso/sovran/enroll-token";
      description = ''
        File on the booted system, outside the Nix store, holding the
        enrollment token. Copied to /etc/sovran/enroll-token (0600) at
        activation when it exists and is not empty.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [{
      assertion = !(lib.hasPrefix builtins.storeDir cfg.enrollTokenFile);
      message = "sovran.autoProvision.enrollTokenFile must not be in the Nix store";
    }];

    services.tailscale.enable = true;

    environment.etc."sovran/provisioner-url" = lib.mkIf (cfg.provisionerUrl != null) {
      text = cfg.provisionerUrl + "\n";
      mode = "0644";
    };

    system.activationScripts.sovranEnrollToken = lib.stringAfter [ "etc" ] ''
      if [ -s ${lib.escapeShellArg cfg.enrollTokenFile} ]; then
        (umask 077 && ${pkgs.coreutils}/bin/install -D -m 0600 -o root -g root \
          ${lib.escapeShellArg cfg.enrollTokenFile} /etc/sovran/enroll-token)
      fi
    '';

    systemd.packages = [ client ];
    systemd.services.sovran-auto-provision = {
      wantedBy = [ "multi-user.target" ];
      # Everything the script runs; a NixOS unit sees nothing else.
      path = [
        config.services.tailscale.package
        pkgs.curl
        pkgs.jq
        pkgs.coreutils
        pkgs.gnused
      ];
    };
  };
}
