# nixpkgs.nix: the nixpkgs options this project's modules set or read,
# modelled for lib.nix. Each option keeps nixpkgs' path, type and default;
# each module keeps what its config does that can clash with ours (units,
# users, /etc files, firewall). Everything else nixpkgs has is left out, so
# a definition of an option not listed here fails like a misspelt one:
# extend this file (from nixpkgs' source, noting where) before using a new
# option.
#
# Sources (NixOS/nixpkgs, file @ commit as read):
#   nixos/modules/services/networking/headscale.nix: the current layout
#     (read-only configFile without null values, settings.dns with
#     override_local_dns and split, oidc.pkce, the strip_email_domain
#     assertion), as the search index stores it without naming a commit;
#     the index's only commit-addressed copy (f1c94228) is the 2023 module
#     for headscale 0.22, whose option names 0.28 refuses
#   pkgs/by-name/he/headscale/package.nix @ 0a381e31 (version 0.28.0)
#   nixos/modules/services/web-servers/caddy/default.nix @ 0145c6da
#   nixos/modules/services/web-servers/caddy/vhost-options.nix @ 0b8aa77d
#   pkgs/by-name/ca/caddy/package.nix @ 07a0da74 (2.9.1; units caddy.service,
#     caddy-api.service from caddyserver/dist)
#   nixos/modules/services/networking/tailscale.nix @ e54ebecf
#   nixos/modules/config/users-groups.nix @ b69a0b59
#   nixos/modules/system/boot/systemd.nix @ c32bf833 and
#     nixos/lib/systemd-lib.nix @ 6f03be6b (unitOption merge; generateUnits
#     links every unit of systemd.packages into one directory with ln -s,
#     and a unit also defined in systemd.services becomes a drop-in)
#   nixos/modules/services/networking/firewall.nix @ 2e1d0989
#   nixos/modules/services/networking/ssh/sshd.nix (enable,
#     authorizedKeysFiles, settings: a freeform submodule whose declared
#     keys here are the three the client module sets)
#   nixos/modules/system/boot/systemd/tmpfiles.nix (rules)
#   nixos/modules/system/etc/etc.nix, nixos/modules/config/sysctl.nix,
#     nixos/modules/system/activation/activation-script.nix,
#     nixos/modules/misc/assertions.nix, nixos/modules/misc/ids.nix
{ lib, pkgs }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge mkDefault types;

  # nixos/lib/systemd-lib.nix: unitOption. Lists concatenate, anything
  # else must agree.
  unitOption = {
    description = "systemd option";
    check = _: true;
    merge = loc: defs:
      if builtins.any (d: builtins.isList d.value) defs then
        builtins.concatMap (d: if builtins.isList d.value then d.value else [ d.value ]) defs
      else lib.mergeEqual loc defs;
  };
  strList = mkOption { type = types.listOf types.str; default = [ ]; };

  # nixos/lib/systemd-unit-options.nix: the options common to all units,
  # then those of services and sockets.
  unitOptions = {
    enable = mkOption { type = types.bool; default = true; };
    description = mkOption { type = types.str; default = ""; };
    wantedBy = strList;
    requiredBy = strList;
    wants = strList;
    requires = strList;
    after = strList;
    before = strList;
    partOf = strList;
    restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    reloadTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
    overrideStrategy = mkOption { type = types.enum [ "asDropinIfExists" "asDropin" ]; default = "asDropinIfExists"; };
  };
  serviceOptions = { name, ... }: {
    options = unitOptions // {
      serviceConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
      };
      path = mkOption { type = types.listOf (types.oneOf [ types.package types.str ]); default = [ ]; };
      script = mkOption { type = types.lines; default = ""; };
      startLimitIntervalSec = mkOption { type = types.nullOr types.int; default = null; };
      startLimitBurst = mkOption { type = types.nullOr types.int; default = null; };
    };
  };
  timerOptions = { name, ... }: {
    options = unitOptions // {
      timerConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
    };
  };
  socketOptions = { name, ... }: {
    options = unitOptions // {
      socketConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      listenStreams = strList;
    };
  };

  # nixos/modules/system/etc/etc.nix: one /etc entry; text becomes a store
  # file that source then names.
  etcOptions = { name, config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      target = mkOption { type = types.str; default = name; };
      text = mkOption { type = types.nullOr types.lines; default = null; };
      source = mkOption { type = types.path; };
      mode = mkOption { type = types.str; default = "symlink"; };
      user = mkOption { type = types.str; default = "+0"; };
      group = mkOption { type = types.str; default = "+0"; };
    };
    config.source = mkIf (config.text != null) (mkDefault (pkgs.writeText "etc-${name}" config.text));
  };
in
[
  # misc/assertions.nix, misc/ids.nix, config/sysctl.nix,
  # activation/activation-script.nix, config/system-path.nix
  {
    _file = "nixpkgs: misc";
    options = {
      assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      warnings = mkOption { type = types.listOf types.str; default = [ ]; };
      ids.uids = mkOption { type = types.attrsOf types.int; default = { }; };
      ids.gids = mkOption { type = types.attrsOf types.int; default = { }; };
      boot.kernel.sysctl = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.bool types.str types.int ]));
        default = { };
      };
      system.activationScripts = mkOption {
        type = types.attrsOf (types.either types.str (types.submodule {
          options.deps = strList;
          options.text = mkOption { type = types.lines; };
        }));
        default = { };
      };
      environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
      environment.etc = mkOption { type = types.attrsOf (types.submodule etcOptions); default = { }; };
    };
    config.ids = { uids.caddy = 239; gids.caddy = 239; };
  }

  # config/users-groups.nix
  ({ config, ... }: {
    _file = "nixpkgs: nixos/modules/config/users-groups.nix";
    options.users.users = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options = {
          name = mkOption { type = types.str; default = name; };
          description = mkOption { type = types.str; default = ""; };
          isSystemUser = mkOption { type = types.bool; default = false; };
          isNormalUser = mkOption { type = types.bool; default = false; };
          group = mkOption { type = types.str; default = ""; };
          extraGroups = strList;
          home = mkOption { type = types.path; default = "/var/empty"; };
          uid = mkOption { type = types.nullOr types.int; default = null; };
        };
      }));
    };
    options.users.groups = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options = {
          name = mkOption { type = types.str; default = name; };
          gid = mkOption { type = types.nullOr types.int; default = null; };
          members = strList;
        };
      }));
    };
    config.assertions = lib.concatLists (lib.mapAttrsToList (name: u: [
      {
        # A uid below 1000 counts as a system user.
        assertion = (u.isSystemUser || (u.uid != null && u.uid < 1000)) != u.isNormalUser;
        message = "Exactly one of users.users.${name}.isSystemUser and users.users.${name}.isNormalUser must be set.";
      }
      {
        assertion = u.group != "";
        message = "users.users.${name}.group is unset. This used to default to nogroup, but this is unsafe.";
      }
    ]) config.users.users);
  })

  # system/boot/systemd.nix
  {
    _file = "nixpkgs: nixos/modules/system/boot/systemd.nix";
    options.systemd = {
      packages = mkOption { type = types.listOf types.package; default = [ ]; };
      services = mkOption { type = types.attrsOf (types.submodule serviceOptions); default = { }; };
      sockets = mkOption { type = types.attrsOf (types.submodule socketOptions); default = { }; };
      timers = mkOption { type = types.attrsOf (types.submodule timerOptions); default = { }; };
      # system/boot/systemd/tmpfiles.nix
      tmpfiles.rules = strList;
    };
  }

  # services/networking/firewall.nix and nftables.nix
  {
    _file = "nixpkgs: nixos/modules/services/networking/firewall.nix";
    options.networking.firewall = {
      enable = mkOption { type = types.bool; default = true; };
      allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
      allowedUDPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
    };
    options.networking.nftables.enable = mkOption { type = types.bool; default = false; };
  }

  # services/networking/headscale.nix
  ({ config, ... }:
    let
      cfg = config.services.headscale;
      dataDir = "/var/lib/headscale";
      cliConfig = {
        disable_check_updates = true;
        unix_socket = "/run/headscale/headscale.sock";
      };
      settingsFormat = pkgs.formats.yaml { };
      opt = type: default: mkOption { inherit type default; };
      # lib.filterAttrsRecursive (n: v: v != null)
      dropNulls = v: if builtins.isAttrs v && !(v ? outPath) then
        builtins.mapAttrs (n: dropNulls) (lib.filterAttrs (n: x: x != null) v) else v;
      removed = path: message: {
        assertion = !(lib.hasAttrByPath path cfg.settings);
        message = "The option `services.headscale.settings.${lib.concatStringsSep "." path}` was removed. " + message;
      };
    in
    {
      _file = "nixpkgs: nixos/modules/services/networking/headscale.nix";
      options.services.headscale = {
        enable = mkEnableOption "headscale";
        package = lib.mkPackageOption pkgs "headscale" { };
        user = opt types.str "headscale";
        group = opt types.str "headscale";
        address = opt types.str "127.0.0.1";
        port = opt types.port 8080;
        # readOnly there: the server's YAML, settings without null values.
        configFile = opt types.path (settingsFormat.generate "headscale.yaml" (dropNulls cfg.settings));
        settings = mkOption {
          default = { };
          type = types.submodule {
            freeformType = settingsFormat.type;
            options = {
              database = {
                postgres = {
                  host = opt (types.nullOr types.str) null;
                  name = opt (types.nullOr types.str) null;
                  password_file = opt (types.nullOr types.path) null;
                  port = opt (types.nullOr types.port) null;
                  user = opt (types.nullOr types.str) null;
                };
                sqlite.path = opt (types.nullOr types.str) "${dataDir}/db.sqlite";
                sqlite.write_ahead_log = opt types.bool true;
                type = opt (types.enum [ "sqlite" "sqlite3" "postgres" ]) "sqlite";
              };
              derp = {
                auto_update_enabled = opt types.bool true;
                paths = opt (types.listOf types.path) [ ];
                server.private_key_path = opt types.path "${dataDir}/derp_server_private.key";
                update_frequency = opt types.str "24h";
                urls = opt (types.listOf types.str) [ "https://controlplane.tailscale.com/derpmap/default" ];
              };
              dns = {
                base_domain = opt types.str "";
                extra_records = opt (types.nullOr (types.listOf (types.submodule {
                  options.name = mkOption { type = types.str; };
                  options.type = mkOption { type = types.enum [ "A" "AAAA" ]; };
                  options.value = mkOption { type = types.str; };
                }))) null;
                extra_records_path = opt (types.nullOr types.str) null;
                magic_dns = opt types.bool true;
                nameservers.global = opt (types.listOf types.str) [ ];
                override_local_dns = opt types.bool true;
                search_domains = opt (types.listOf types.str) [ ];
                split = opt (types.attrsOf (types.listOf types.str)) { };
              };
              ephemeral_node_inactivity_timeout = opt types.str "30m";
              log.format = opt types.str "text";
              log.level = opt types.str "info";
              noise.private_key_path = opt types.path "${dataDir}/noise_private.key";
              oidc = {
                allowed_domains = opt (types.listOf types.str) [ ];
                allowed_users = opt (types.listOf types.str) [ ];
                client_id = opt types.str "";
                client_secret_path = opt (types.nullOr types.str) null;
                extra_params = opt (types.attrsOf types.str) { };
                issuer = opt types.str "";
                pkce.enabled = opt types.bool false;
                pkce.method = opt types.str "S256";
                scope = opt (types.listOf types.str) [ "openid" "profile" "email" ];
              };
              policy.mode = opt (types.enum [ "file" "database" ]) "file";
              policy.path = opt (types.nullOr types.path) null;
              prefixes = {
                allocation = opt (types.enum [ "sequential" "random" ]) "sequential";
                v4 = opt types.str "100.64.0.0/10";
                v6 = opt types.str "fd7a:115c:a1e0::/48";
              };
              server_url = opt types.str "http://127.0.0.1:8080";
              tls_cert_path = opt (types.nullOr types.path) null;
              tls_key_path = opt (types.nullOr types.path) null;
              tls_letsencrypt_challenge_type = opt (types.enum [ "TLS-ALPN-01" "HTTP-01" ]) "HTTP-01";
              tls_letsencrypt_hostname = opt (types.nullOr types.str) "";
              tls_letsencrypt_listen = opt (types.nullOr types.str) ":http";
            };
          };
        };
      };
      config = mkIf cfg.enable {
        assertions = [
          {
            assertion = cfg.settings.dns.magic_dns -> cfg.settings.dns.base_domain != "";
            message = "dns.base_domain must be set when using MagicDNS";
          }
          {
            assertion = cfg.settings.dns.override_local_dns -> cfg.settings.dns.nameservers.global != [ ];
            message = "dns.nameservers.global must be set when overriding local DNS";
          }
          {
            assertion = cfg.settings.dns.extra_records_path == null || cfg.settings.dns.extra_records == null;
            message = "dns.extra_records and dns.extra_records_path are mutually exclusive";
          }
          (removed [ "acl_policy_path" ] "Use `policy.path` instead.")
          (removed [ "db_path" ] "Use `database.sqlite.path` instead.")
          (removed [ "db_type" ] "Use `database.type` instead.")
          (removed [ "dns_config" ] "Use `dns` instead.")
          (removed [ "oidc" "strip_email_domain" ] "The strip_email_domain option got removed upstream")
        ];
        # The CLI's config only: the server runs configFile, a store path.
        environment.etc."headscale/config.yaml".source = settingsFormat.generate "headscale.yaml" cliConfig;
        environment.systemPackages = [ cfg.package ];
        services.headscale.settings = mkMerge [
          cliConfig
          {
            listen_addr = mkDefault "${cfg.address}:${toString cfg.port}";
            tls_letsencrypt_cache_dir = "${dataDir}/.cache";
          }
        ];
        systemd.services.headscale = {
          after = [ "network-online.target" ];
          wants = [ "network-online.target" ];
          wantedBy = [ "multi-user.target" ];
          script = "exec ${lib.getExe cfg.package} serve --config ${cfg.configFile}";
          serviceConfig = {
            Group = cfg.group;
            User = cfg.user;
            RuntimeDirectory = "headscale";
            RuntimeDirectoryMode = "0750";
            StateDirectory = "headscale";
            StateDirectoryMode = "0750";
          };
        };
        users.groups.headscale = mkIf (cfg.group == "headscale") { };
        users.users.headscale = mkIf (cfg.user == "headscale") {
          group = cfg.group;
          home = dataDir;
          isSystemUser = true;
        };
      };
    })

  # services/web-servers/caddy/default.nix and vhost-options.nix
  ({ config, ... }:
    let
      cfg = config.services.caddy;
      opt = type: default: mkOption { inherit type default; };
      mkVHostConf = h: ''
        ${h.hostName} ${lib.concatStringsSep " " h.serverAliases} {
          ${lib.optionalString (h.listenAddresses != [ ]) "bind ${lib.concatStringsSep " " h.listenAddresses}"}
          ${lib.optionalString (h.logFormat != null) ''
            log {
              ${h.logFormat}
            }
          ''}

          ${h.extraConfig}
        }
      '';
      # Unformatted: nixpkgs runs `caddy fmt` over this when building.
      caddyfile = pkgs.writeText "Caddyfile" ''
        {
          ${cfg.globalConfig}
        }
        ${cfg.extraConfig}
        ${lib.concatMapStringsSep "\n" mkVHostConf (lib.attrValues cfg.virtualHosts)}
      '';
    in
    {
      _file = "nixpkgs: nixos/modules/services/web-servers/caddy/default.nix";
      options.services.caddy = {
        enable = mkEnableOption "Caddy web server";
        user = opt types.str "caddy";
        group = opt types.str "caddy";
        package = lib.mkPackageOption pkgs "caddy" { };
        dataDir = opt types.path "/var/lib/caddy";
        logDir = opt types.path "/var/log/caddy";
        logFormat = opt types.lines "level ERROR\n";
        configFile = opt types.path caddyfile;
        adapter = opt (types.nullOr types.str) "caddyfile";
        globalConfig = opt types.lines "";
        extraConfig = opt types.lines "";
        email = opt (types.nullOr types.str) null;
        acmeCA = opt (types.nullOr types.str) null;
        httpPort = opt (types.nullOr types.port) 80;
        httpsPort = opt (types.nullOr types.port) 443;
        enableReload = opt types.bool true;
        openFirewall = opt types.bool false;
        virtualHosts = mkOption {
          default = { };
          type = types.attrsOf (types.submodule ({ name, config, ... }: {
            options = {
              hostName = opt types.str name;
              serverAliases = opt (types.listOf types.str) [ ];
              listenAddresses = opt (types.listOf types.str) [ ];
              useACMEHost = opt (types.nullOr types.str) null;
              logFormat = opt types.lines ''
                output file ${cfg.logDir}/access-${config.hostName}.log
              '';
              extraConfig = opt types.lines "";
            };
          }));
        };
      };
      config = mkIf cfg.enable {
        services.caddy.globalConfig = ''
          log {
            ${cfg.logFormat}
          }
        '';
        boot.kernel.sysctl."net.core.rmem_max" = mkDefault 2500000;
        boot.kernel.sysctl."net.core.wmem_max" = mkDefault 2500000;
        systemd.packages = [ cfg.package ];
        systemd.services.caddy = {
          wantedBy = [ "multi-user.target" ];
          serviceConfig = {
            ExecStart = [ "" "${lib.getExe cfg.package} run --config /etc/caddy/caddy_config --adapter caddyfile" ];
            User = cfg.user;
            Group = cfg.group;
            LogsDirectory = mkIf (cfg.logDir == "/var/log/caddy") [ "caddy" ];
          };
        };
        users.users = lib.optionalAttrs (cfg.user == "caddy") {
          caddy = {
            group = cfg.group;
            uid = config.ids.uids.caddy;
            home = cfg.dataDir;
          };
        };
        users.groups = lib.optionalAttrs (cfg.group == "caddy") { caddy.gid = config.ids.gids.caddy; };
        environment.etc."caddy/caddy_config".source = cfg.configFile;
        networking.firewall = mkIf cfg.openFirewall {
          allowedTCPPorts = builtins.filter (p: p != null) [ cfg.httpPort cfg.httpsPort ];
          allowedUDPPorts = lib.optional (cfg.httpsPort != null) cfg.httpsPort;
        };
      };
    })

  # services/networking/tailscale.nix
  ({ config, ... }:
    let cfg = config.services.tailscale; in
    {
      _file = "nixpkgs: nixos/modules/services/networking/tailscale.nix";
      options.services.tailscale = {
        enable = mkEnableOption "Tailscale client daemon";
        package = lib.mkPackageOption pkgs "tailscale" { };
        port = mkOption { type = types.port; default = 41641; };
        openFirewall = mkOption { type = types.bool; default = false; };
      };
      config = mkIf cfg.enable {
        environment.systemPackages = [ cfg.package ];
        systemd.packages = [ cfg.package ];
        systemd.services.tailscaled.wantedBy = [ "multi-user.target" ];
        networking.firewall.allowedUDPPorts = mkIf cfg.openFirewall [ cfg.port ];
      };
    })

  # services/networking/ssh/sshd.nix
  {
    _file = "nixpkgs: nixos/modules/services/networking/ssh/sshd.nix";
    options.services.openssh = {
      enable = mkOption { type = types.bool; default = false; };
      authorizedKeysFiles = strList;
      settings = mkOption {
        default = { };
        type = types.submodule {
          freeformType = types.attrsOf (types.nullOr (types.oneOf [ types.bool types.int types.str
            (types.listOf types.str) ]));
          options = {
            PermitRootLogin = mkOption {
              type = types.enum [ "yes" "without-password" "prohibit-password" "forced-commands-only" "no" ];
              default = "prohibit-password";
            };
            PasswordAuthentication = mkOption { type = types.bool; default = true; };
            KbdInteractiveAuthentication = mkOption { type = types.bool; default = true; };
          };
        };
      };
    };
  }
]
