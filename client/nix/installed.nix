# installed.nix: deploy mode on an installed machine. Import it into the
# installed system's configuration and set sovran.deployConnect.enable,
# authorizedKey (the deployer's SSH key) and headscaleServer.
#
# Deploy mode begins at the first boot and ends on `sovran-deploy-mode
# off` or deployModeHours later, counted from a start kept on disk (see
# sovran-deploy-mode(8)). While it lasts, root may log in over SSH with
# authorizedKey only: sshd allows no passwords, and it reads the key from
# /run/sovran/deploy-keys/root, a file that sovran-deploy-mode writes and
# deletes. The key is not in users.users.root.openssh.authorizedKeys: a
# file NixOS links into /etc cannot be taken away at run time. The state
# is readable at /run/sovran/deploy-mode.
#
# With headscaleServer set, the machine is on the tailnet while deploy
# mode lasts: the installer leaves a one-use pre-auth key in authKeyFile
# (root, 0600); deploy-tailscale-connect joins with it on the first boot
# and, on every later boot, only checks that the node is still connected.
# The key is mutable state on the machine, never a Nix value, so it never
# enters the store. Ending deploy mode deletes it and logs the node out.
#
# The option names of the Flask-era remote-deploy.nix,
# sovran_systemsOS.deploy.{enable, authorizedKey, headscaleServer,
# headscaleAuthKeyFile}, keep working, each with a warning naming the new
# one (lib.mkRenamedOptionModule: nixpkgs lib/modules.nix, doRename, which
# forwards the definition with its priority and warns when the old option
# is defined).
{ config, lib, pkgs, ... }:

let
  cfg = config.sovran.deployConnect;
  client = pkgs.callPackage ./package.nix { };
  renamed = old: new:
    lib.mkRenamedOptionModule [ "sovran_systemsOS" "deploy" old ] [ "sovran" "deployConnect" new ];
in
{
  imports = [
    (renamed "enable" "enable")
    (renamed "authorizedKey" "authorizedKey")
    (renamed "headscaleServer" "headscaleServer")
    (renamed "headscaleAuthKeyFile" "authKeyFile")
  ];

  options.sovran.deployConnect = {
    enable = lib.mkEnableOption "deploy mode: SSH for the deployer and the Sovran tailnet, for a limited time";

    authorizedKey = lib.mkOption {
      type = lib.types.str;
      default = "";
      example = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... deployer";
      description = ''
        The deployer's SSH public key (one a line for several). While
        deploy mode lasts, root may log in with it and only with it. Empty:
        no SSH access for the deployer.
      '';
    };

    headscaleServer = lib.mkOption {
      # "" is what the old installer wrote when it was given no server.
      type = lib.types.strMatching "(https?://[^[:space:]]+)?";
      default = "";
      example = "https://hs.example.net";
      description = ''
        Headscale's server_url: the login server for `tailscale up`. Empty:
        deploy mode does not join a tailnet.
      '';
    };

    authKeyFile = lib.mkOption {
      # A string, not a path: the key must never be copied into the store.
      type = lib.types.str;
      default = "/var/lib/secrets/headscale-authkey";
      description = ''
        The pre-auth key file the installer writes. Must be owned by root
        and not accessible to group or others, or the unit refuses it.
        Deleted when deploy mode ends.
      '';
    };

    deployModeHours = lib.mkOption {
      type = lib.types.ints.positive;
      default = 48;
      description = ''
        How long deploy mode lasts after it began at the first boot.
        Reboots do not extend it.
      '';
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      environment.systemPackages = [ client ];

      environment.etc."sovran/deploy-key.pub" = lib.mkIf (cfg.authorizedKey != "") {
        text = cfg.authorizedKey + "\n";
        mode = "0644";
      };

      services.openssh = {
        enable = true;
        # Added to the usual files; only root's exists, only in deploy mode.
        authorizedKeysFiles = [ "/run/sovran/deploy-keys/%u" ];
        settings = {
          PermitRootLogin = "prohibit-password";
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
        };
      };

      # The units come with the package; here only what is NixOS-specific.
      systemd.packages = [ client ];
      systemd.services.sovran-deploy-mode = {
        wantedBy = [ "multi-user.target" ];
        environment = {
          SOVRAN_DEPLOY_HOURS = toString cfg.deployModeHours;
          SOVRAN_AUTHKEY_FILE = cfg.authKeyFile;
        };
        path = [
          config.services.tailscale.package
          pkgs.coreutils
          pkgs.gnugrep
        ];
        # Ending deploy mode deletes the auth key wherever it is.
        serviceConfig.ReadWritePaths = [ "-${dirOf cfg.authKeyFile}" ];
      };
      systemd.timers.sovran-deploy-mode.wantedBy = [ "timers.target" ];
    }

    (lib.mkIf (cfg.headscaleServer != "") {
      services.tailscale.enable = true;

      environment.etc."sovran/headscale-server" = {
        text = cfg.headscaleServer + "\n";
        mode = "0644";
      };

      systemd.services.deploy-tailscale-connect = {
        wantedBy = [ "multi-user.target" ];
        environment.SOVRAN_AUTHKEY_FILE = cfg.authKeyFile;
        # Only while deploy mode is active (status exits 3 otherwise).
        serviceConfig.ExecCondition = "${client}/bin/sovran-deploy-mode status";
        # Everything the script runs; a NixOS unit sees nothing else.
        path = [
          config.services.tailscale.package
          pkgs.jq
          pkgs.coreutils
          pkgs.gnused
        ];
      };
    })
  ]);
}
