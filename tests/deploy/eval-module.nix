# Evaluates nix/sovran-provisioner.nix without nixpkgs, for the test suite:
# a stub lib holding only the functions the module uses (mkIf resolved on
# the spot, mkDefault as identity), option types checked by their regular
# expressions, and config.sovranProvisioner built from the module's own
# defaults plus the values a test passes in `set`.
#
#   nix-instantiate --eval --strict --json eval-module.nix \
#     --arg module ./nix/sovran-provisioner.nix --arg set '{ ... }'
{
  module,
  set ? { },
}:

let
  lib = rec {
    mkOption = o: o;
    mkEnableOption = what: {
      type = "bool";
      default = false;
      description = "Whether to enable ${what}.";
    };
    types = {
      str = "str";
      package = "package";
      strMatching = re: { inherit re; };
      ints.positive = "positive";
    };
    mkIf = cond: value: if cond then value else { };
    mkDefault = value: value;
    concatStrings = builtins.concatStringsSep "";
    concatMapStrings = f: list: concatStrings (map f list);
    mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
    hasSuffix =
      suffix: s:
      let
        ls = builtins.stringLength suffix;
        l = builtins.stringLength s;
      in
      l >= ls && builtins.substring (l - ls) ls s == suffix;
  };

  pkgs.callPackage = path: args: "/nix/store/00000000000000000000000000000000-sovran-provisioner";

  stub = import module { inherit config lib pkgs; };
  options = stub.options.sovranProvisioner;

  valid =
    name: value:
    let
      t = options.${name}.type;
    in
    if builtins.isAttrs t && t ? re then
      builtins.match t.re value != null
    else if t == "positive" then
      builtins.isInt value && value > 0
    else
      true;

  values = builtins.mapAttrs (n: o: o.default or null) options // set;
  bad = builtins.filter (n: values.${n} != null && !(valid n values.${n})) (
    builtins.attrNames values
  );

  config = {
    sovranProvisioner =
      if bad == [ ] then values else throw "invalid sovranProvisioner values: ${toString bad}";
    services.headscale = {
      package = "/nix/store/00000000000000000000000000000000-headscale";
      group = "headscale";
    };
  };
in
{
  options = builtins.mapAttrs (n: o: o.default or null) options;
  inherit (stub) config;
}
