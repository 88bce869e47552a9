# Evaluates this project's NixOS modules without nixpkgs, for the test
# suite: together with a model of the nixpkgs modules they touch
# (model/nixpkgs.nix, each option's source noted there) through a model of
# nixpkgs' module system (model/lib.nix). So a misspelt option, a value of
# the wrong type, two modules defining one option differently, or two
# packages shipping the same unit fail here as they fail on NixOS.
#
#   nix-instantiate --eval --strict --json eval-module.nix \
#     --arg module ./nix/sovran-provisioner.nix --arg set '{ ... }' \
#     [--arg modules '[ ./client/nix/installed.nix ]'] [--arg system '{ ... }'] \
#     [--arg serverUnits '[ "a.service" ... ]']
#
# module and set: a module and the sovranProvisioner values; modules:
# more modules; system: any other definitions (a module); serverUnits:
# the unit files the server package installs (by default the ones
# systemd/Makemodule.am lists; the test passes what `make install` put
# there).
{
  module ? null,
  modules ? [ ],
  set ? null,
  system ? { },
  serverUnits ? null,
}:

let
  b = builtins;
  lib = import ./model/lib.nix;

  # A package as the modules see it: its name, version and the unit files
  # it installs under lib/systemd/system.
  mkPackage = pname: version: units: {
    type = "derivation";
    inherit pname version units;
    name = "${pname}-${version}";
    outPath = "/nix/store/00000000000000000000000000000000-${pname}";
    meta.mainProgram = pname;
  };
  endpoints = [ "health" "register" "machines" "metrics" ];
  serverPackage = mkPackage "sovran-provisioner" "0.1.0" (
    if serverUnits != null then serverUnits
    else b.concatMap (e: [ "sovran-provisioner-${e}.socket" "sovran-provisioner-${e}.service" ]) endpoints
      ++ [ "sovran-provisioner-bootstrap.service" ]);
  # client/nix/package.nix installs every unit of client/ (the templates
  # named without .in).
  clientPackage = clientDir: mkPackage "sovran-provisioner-client" "0.1.0" (
    let
      unit = n: b.match "(.*\\.(service|socket|timer))(\\.in)?" n;
      names = b.filter (x: x != null) (map unit (b.attrNames (b.readDir clientDir)));
    in
    b.foldl' (acc: m: if b.elem (b.head m) acc then acc else acc ++ [ (b.head m) ]) [ ] names);
  storeFile = name: "/nix/store/00000000000000000000000000000000-${name}";

  pkgs = {
    inherit mkPackage;
    # nixpkgs' versions where a module depends on them (sources in
    # model/nixpkgs.nix); the units are those each package installs.
    headscale = mkPackage "headscale" "0.28.0" [ ];
    caddy = mkPackage "caddy" "2.9.1" [ "caddy.service" "caddy-api.service" ];
    tailscale = mkPackage "tailscale" "1.0" [ "tailscaled.service" ];
    jq = mkPackage "jq" "1" [ ];
    curl = mkPackage "curl" "1" [ ];
    coreutils = mkPackage "coreutils" "1" [ ];
    gnused = mkPackage "gnused" "1" [ ];
    gnugrep = mkPackage "gnugrep" "1" [ ];
    callPackage = path: args:
      if lib.hasSuffix "client/nix/package.nix" (toString path) then clientPackage (dirOf (dirOf path))
      else serverPackage;
    writeText = name: text: { outPath = storeFile name; inherit text; };
    formats.yaml = _: {
      type = lib.types.attrsOf lib.yamlValue;
      generate = name: value: { outPath = storeFile name; inherit value; };
    };
  };

  sys = lib.evalModules {
    modules = import ./model/nixpkgs.nix { inherit lib pkgs; }
      ++ lib.optional (module != null) module
      ++ modules
      ++ lib.optional (set != null) { _file = "the test's set"; sovranProvisioner = set; }
      ++ [ { _file = "the test's system"; imports = [ system ]; } ];
    specialArgs = { inherit pkgs; };
  };
  config = sys.config;

  # nixos/lib/systemd-lib.nix (generateUnits): every unit file of every
  # package in systemd.packages is linked into one directory with
  # `ln -s`; a second file of the same name stops the system-units build.
  packages = b.foldl' (acc: p: if b.elem p.outPath (map (q: q.outPath) acc) then acc else acc ++ [ p ])
    [ ] config.systemd.packages;
  linked = b.foldl' (acc: u:
    if b.elem u acc then throw "system-units: ln: failed to create symbolic link '${u}': File exists"
    else acc ++ [ u ]) [ ] (b.concatMap (p: p.units) packages);
  # A unit the configuration defines is a drop-in when a package has it
  # and a unit of its own otherwise, which then needs a command or address.
  incomplete =
    b.filter (n: !(b.elem "${n}.service" linked) && config.systemd.services.${n}.script == ""
      && !(config.systemd.services.${n}.serviceConfig ? ExecStart)) (b.attrNames config.systemd.services)
    ++ b.filter (n: !(b.elem "${n}.socket" linked) && config.systemd.sockets.${n}.listenStreams == [ ]
      && !(config.systemd.sockets.${n}.socketConfig ? ListenStream)) (b.attrNames config.systemd.sockets);
  units =
    if incomplete != [ ] then throw "units defined by the configuration but shipped by no package: ${toString incomplete}"
    else linked;
in
{
  options = b.mapAttrs (n: o: o.default or null) (sys.options.sovranProvisioner or { });
  # The options this project declares have no value while disabled (the
  # domains have no default), so only the system's other options are shown.
  config = removeAttrs config [ "sovranProvisioner" "sovran" "sovran_systemsOS" ];
  inherit units;
  failedAssertions = map (a: a.message) (b.filter (a: !a.assertion) config.assertions);
  inherit (config) warnings;
  # What each /etc file holds: its text, or what the store file it links
  # to was generated from.
  etc = b.mapAttrs (n: e: e.source.text or e.source.value or null) config.environment.etc;
  # The YAML the headscale server runs.
  headscaleConfig = if config.services.headscale.enable then config.services.headscale.configFile.value else null;
  caddyfile = if config.services.caddy.enable then config.services.caddy.configFile.text else null;
}
