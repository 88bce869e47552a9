# sovran-provisioner.nix: the NixOS module for a provisioning VPS. Import
# it, set the two domains, and the machine runs Headscale 0.28, the three
# FastCGI endpoints behind Caddy, the bootstrap and the firewall:
#
#   imports = [ ./nix/sovran-provisioner.nix ];
#   sovranProvisioner = {
#     enable = true;
#     domain = "prov.example.org";
#     headscaleDomain = "hs.example.org";
#   };
#
# The units are the package's own (systemd/ in the source tree), so Debian
# and NixOS run the same hardening; this module adds only what NixOS does
# differently: enabling them, the environment file, the state directory,
# the headscale and caddy group names (drop-ins). The package ships no
# client unit, so client/nix/installed.nix or iso.nix may share the system.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.sovranProvisioner;
  hs = config.services.headscale;
  inherit (lib) mkOption types;

  endpoints = [
    "health"
    "register"
    "machines"
    "metrics"
  ];
  runDir = "/run/sovran-provisioner";

  # One file for every unit, as on Debian. No secret in it: the token is
  # created at boot in stateDir and never enters the Nix store.
  environmentFile = lib.concatStrings (
    lib.mapAttrsToList (name: value: "${name}=${toString value}\n") {
      PROVISIONER_DATA_DIR = cfg.stateDir;
      HEADSCALE_BIN = "${hs.package}/bin/headscale";
      HEADSCALE_CONFIG = "/etc/headscale/config.yaml";
      HEADSCALE_URL = "https://${cfg.headscaleDomain}";
      HEADSCALE_USER = cfg.headscaleUser;
      ADMIN_USER = cfg.adminUser;
      KEY_EXPIRY = cfg.keyExpiry;
      RATE_LIMIT_MAX = cfg.rateLimitMax;
      RATE_LIMIT_WINDOW = cfg.rateLimitWindow;
    }
  );

  # Operators reach every deploy machine; deploy machines start no
  # connection at all (mirrors headscale/acl.hujson.in).
  policy = {
    groups."group:operators" = [ "${cfg.adminUser}@" ];
    acls = [
      {
        action = "accept";
        src = [ "group:operators" ];
        dst = [
          "${cfg.headscaleUser}@:*"
          "group:operators:*"
        ];
      }
    ];
  };
  policyPath = "/etc/headscale/acl.hujson";

  # Same routes as caddy/Caddyfile (the test suite compares the two as
  # Caddy adapts them); NixOS adds the access log itself. Only directives
  # that Caddy 2.6.2 and 2.8+ both accept (caddy/check-directives,
  # caddy/directives.tsv): no request buffering, whose directives
  # changed in 2.8.0, so a deadline for the body in the programs has to
  # take its place. header_down drops the CGI Status line, which the
  # fastcgi transport passes on.
  fastcgiRoute = name: ''
    handle ${if name == "machines" then "@machines" else "/${name}"} {
    	reverse_proxy unix/${runDir}/${name}.sock {
    		transport fastcgi {
    			split /${name}
    			root /nonexistent
    			dial_timeout 2s
    			read_timeout 15s
    			write_timeout 15s
    		}
    		header_down -Status
    		lb_try_duration 2s
    		lb_try_interval 100ms
    	}
    }
  '';

  isParentOrSelf = parent: host: host == parent || lib.hasSuffix ".${parent}" host;

  # A DNS name, nothing else: each becomes a site address in the Caddyfile
  # and an attribute name, so a stray space or brace must stop here.
  hostName = types.strMatching "[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?";

  # The headscale CLI contract the programs use is that of 0.28
  # (docs/design.md); 0.26 and 0.28 each changed it.
  headscaleVersion = hs.package.version or "unknown";
  headscaleTested = builtins.match "0\\.28(\\..*)?" headscaleVersion != null;
in
{
  options.sovranProvisioner = {
    enable = lib.mkEnableOption "the sovran-provisioner VPS (Headscale, provisioning API, Caddy)";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { headscale = hs.package; };
      defaultText = "pkgs.callPackage ./package.nix { headscale = config.services.headscale.package; }";
      description = "The sovran-provisioner package.";
    };

    domain = mkOption {
      type = hostName;
      example = "prov.example.org";
      description = "Public name of the provisioning API (POST /register, GET /machines, GET /health).";
    };

    headscaleDomain = mkOption {
      type = hostName;
      example = "hs.example.org";
      description = "Public name of the Headscale server; clients log in to https://<headscaleDomain>.";
    };

    baseDomain = mkOption {
      type = hostName;
      default = "sovran.tail";
      description = "MagicDNS suffix of the tailnet. Must not be headscaleDomain or a parent of it.";
    };

    headscaleUser = mkOption {
      type = types.strMatching "[A-Za-z0-9][A-Za-z0-9._-]{0,62}";
      default = "sovran-deploy";
      description = "Headscale user the deploy machines join as.";
    };

    adminUser = mkOption {
      type = types.strMatching "[A-Za-z0-9][A-Za-z0-9._-]{0,62}";
      default = "admin";
      description = "Headscale user of the operators' own machines.";
    };

    keyExpiry = mkOption {
      type = types.strMatching "([0-9]+(y|w|d|h|m|s|ms))+";
      default = "1h";
      description = "Lifetime of each pre-auth key (integer and unit, e.g. 30m, 1h).";
    };

    rateLimitMax = mkOption {
      type = types.ints.positive;
      default = 10;
      description = "Registration attempts allowed per client address per window.";
    };

    rateLimitWindow = mkOption {
      type = types.ints.positive;
      default = 60;
      description = "Length of the rate-limit window, in seconds.";
    };

    allowUntestedHeadscale = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Accept a services.headscale.package other than 0.28.x. The programs
        drive the headscale CLI, whose commands and output changed in 0.26
        and 0.28; set this only after checking a newer version against
        docs/design.md (a warning then stays in every rebuild).
      '';
    };

    stateDir = mkOption {
      type = types.strMatching "/.+";
      default = "/var/lib/sovran-provisioner";
      description = "Data directory (enrollment token and database). Owned by the bootstrap, used by every unit.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !(isParentOrSelf cfg.baseDomain cfg.headscaleDomain);
        message = "sovranProvisioner.baseDomain must not be headscaleDomain or a parent of it (Headscale refuses to start).";
      }
      {
        assertion = cfg.domain != cfg.headscaleDomain;
        message = "sovranProvisioner.domain and headscaleDomain must be two different names.";
      }
      {
        assertion = headscaleTested || cfg.allowUntestedHeadscale;
        message = "sovranProvisioner needs headscale 0.28.x, but services.headscale.package is headscale ${headscaleVersion}. Pin a 0.28 package, or set sovranProvisioner.allowUntestedHeadscale = true once you have checked that version.";
      }
    ];
    warnings = lib.optional (!headscaleTested && cfg.allowUntestedHeadscale)
      "sovranProvisioner runs with headscale ${headscaleVersion}, which it was not tested with (allowUntestedHeadscale).";

    services.headscale = {
      enable = true;
      address = "127.0.0.1";
      port = 8080;
      # Mirrors headscale/config.yaml.in; the checks in the test suite run
      # on both.
      settings = {
        server_url = "https://${cfg.headscaleDomain}";
        listen_addr = "127.0.0.1:8080";
        metrics_listen_addr = "127.0.0.1:9091";
        grpc_listen_addr = "127.0.0.1:50443";
        grpc_allow_insecure = false;
        noise.private_key_path = "/var/lib/headscale/noise_private.key";
        prefixes = {
          v4 = "100.64.0.0/10";
          v6 = "fd7a:115c:a1e0::/48";
          allocation = "sequential";
        };
        derp = {
          server = {
            enabled = true;
            region_id = 999;
            region_code = "headscale";
            region_name = "Headscale Embedded DERP";
            verify_clients = true;
            stun_listen_addr = ":3478";
            private_key_path = "/var/lib/headscale/derp_server_private.key";
            automatically_add_embedded_derp_region = true;
          };
          urls = [ ];
          paths = [ ];
          auto_update_enabled = false;
          update_frequency = "3h";
        };
        disable_check_updates = true;
        ephemeral_node_inactivity_timeout = "30m";
        database = {
          type = "sqlite";
          sqlite = {
            path = "/var/lib/headscale/db.sqlite";
            write_ahead_log = true;
          };
        };
        log = {
          level = "info";
          format = "text";
        };
        policy = {
          mode = "file";
          path = policyPath;
        };
        dns = {
          magic_dns = true;
          base_domain = cfg.baseDomain;
          override_local_dns = true;
          nameservers.global = [
            "1.1.1.1"
            "9.9.9.9"
          ];
        };
        # The nixpkgs module picks the socket path; let its value win.
        unix_socket = lib.mkDefault "/run/headscale/headscale.sock";
        unix_socket_permission = "0770";
      };
    };

    environment.etc."headscale/acl.hujson".text = builtins.toJSON policy;
    environment.etc."sovran-provisioner/environment".text = environmentFile;

    services.caddy.enable = true;
    # TCP only, as caddy/Caddyfile: no HTTP/3 on udp/443, which the
    # firewall keeps closed.
    services.caddy.globalConfig = ''
      servers {
      	protocols h1 h2
      }
    '';
    # Two definitions, not two attributes of one set: equal names then
    # merge, and the assertion above says what is wrong.
    services.caddy.virtualHosts = lib.mkMerge [
      {
        ${cfg.headscaleDomain}.extraConfig = ''
          reverse_proxy 127.0.0.1:8080
        '';
      }
      {
        ${cfg.domain}.extraConfig = ''
          request_body {
          	max_size 64KiB
          }
          @machines path /machines /machines/*
          ${lib.concatMapStrings fastcgiRoute endpoints}
          handle {
          	header Content-Type application/json
          	respond `{"error":"not found"}` 404
          }
          # Errors Caddy makes itself (413, 502, 504) keep the JSON form.
          handle_errors {
          	header Content-Type application/json
          	respond `{"error":"{err.status_text}"}` {err.status_code}
          }
        '';
      }
    ];

    users.users.sovran-provisioner = {
      isSystemUser = true;
      group = "sovran-provisioner";
      # Socket access to Headscale: no sudo, no root.
      extraGroups = [ hs.group ];
    };
    users.groups.sovran-provisioner = { };

    # The package's own units; NixOS ignores their [Install] sections, so
    # the wantedBy lines below take their place.
    systemd.packages = [ cfg.package ];
    systemd.sockets = lib.genAttrs (map (e: "sovran-provisioner-${e}") endpoints) (name: {
      wantedBy = [ "sockets.target" ];
      # The unit names caddy; the group Caddy runs as here wins.
      socketConfig.SocketGroup = config.services.caddy.group;
    });
    systemd.services =
      lib.genAttrs (map (e: "sovran-provisioner-${e}") endpoints) (name: {
        # "" clears the path compiled into the unit, so a custom stateDir
        # replaces it rather than adding to it.
        serviceConfig.ReadWritePaths = [
          ""
          cfg.stateDir
        ];
        # Likewise the headscale group the socket belongs to.
        serviceConfig.SupplementaryGroups = [
          ""
          hs.group
        ];
        restartTriggers = [ environmentFile ];
      })
      // {
        sovran-provisioner-bootstrap = {
          wantedBy = [ "multi-user.target" ];
          restartTriggers = [ environmentFile ];
        };
        # Headscale reads the policy at start; a new policy needs a restart.
        headscale.restartTriggers = [ (builtins.toJSON policy) ];
      };

    # Only ports: whether the firewall runs is the system's choice (it
    # does by default).
    networking.firewall = {
      # SSH (22) is opened by services.openssh itself when it is enabled.
      allowedTCPPorts = [
        80
        443
      ];
      # STUN of the embedded DERP server.
      allowedUDPPorts = [ 3478 ];
    };
  };
}
