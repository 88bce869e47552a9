# installed.nix: keeps an installed machine on the tailnet while deploy
# mode is on. Import it into the installed system's configuration, set
# sovran.deployConnect.enable and headscaleServer.
#
# The installer leaves a one-use pre-auth key in authKeyFile (root, 0600);
# deploy-tailscale-connect joins with it on the first boot and, on every
# later boot, only checks that the node is still connected. The key is
# mutable state on the machine, never a Nix value, so it never enters the
# store. Turning the module off removes the unit; it does not log the node
# out (run `tailscale logout` for that).
{ config, lib, pkgs, ... }:

let
  cfg = config.sovran.deployConnect;
  client = pkgs.callPackage ./package.nix { };
in
{
  options.sovran.deployConnect = {
    enable = lib.mkEnableOption "connecting this machine to the Sovran tailnet at boot";

    headscaleServer = lib.mkOption {
      type = lib.types.strMatching "https?://[^[:space:]]+";
      example = "https://hs.example.net";
      description = "Headscale's server_url: the login server for `tailscale up`.";
    };

    authKeyFile = lib.mkOption {
      # A string, not a path: the key must never be copied into the store.
      type = lib.types.str;
      default = "/var/lib/secrets/headscale-authkey";
      description = ''
        The pre-auth key file the installer writes. Must be owned by root
        and not accessible to group or others, or the unit refuses it.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    services.tailscale.enable = true;

    environment.etc."sovran/headscale-server" = {
      text = cfg.headscaleServer + "\n";
      mode = "0644";
    };

    systemd.packages = [ client ];
    systemd.services.deploy-tailscale-connect = {
      wantedBy = [ "multi-user.target" ];
      environment.SOVRAN_AUTHKEY_FILE = cfg.authKeyFile;
      # Everything the script runs; a NixOS unit sees nothing else.
      path = [
        config.services.tailscale.package
        pkgs.jq
        pkgs.coreutils
        pkgs.gnused
      ];
    };
  };
}
