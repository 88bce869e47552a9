# Evaluates client/nix/installed.nix without nixpkgs, for the test suite,
# the way tests/deploy/eval-module.nix does the server module: a stub lib
# with only what the module uses, option values checked against their
# types, and a configuration written as a user would (`set`, any option
# paths). What the stub does of the module system, it does as nixpkgs'
# lib/modules.nix does:
#   - lib.mkRenamedOptionModule (doRename): a definition of the old path is
#     forwarded to the new one, and the warning "The option `OLD' defined
#     in `FILE' has been renamed to `NEW'." is added to config.warnings;
#   - a definition of a path no module declares is an error, as NixOS's
#     "The option `X' does not exist";
#   - mkIf false contributes nothing; mkMerge merges its list.
#
#   nix-instantiate --eval --strict --json eval-installed.nix \
#     --arg module ./client/nix/installed.nix --arg set '{ ... }'
{
  module,
  set ? { },
  file ? "/etc/nixos/configuration.nix",
}:

let
  inherit (builtins)
    attrNames
    concatMap
    elem
    filter
    foldl'
    hasAttr
    isAttrs
    isBool
    isInt
    isList
    isString
    length
    match
    removeAttrs
    ;

  getPath = path: attrs: foldl' (a: n: if isAttrs a && hasAttr n a then a.${n} else null) attrs path;
  hasPath = path: attrs: getPath path attrs != null;
  setPath =
    path: value:
    if path == [ ] then value else { ${builtins.head path} = setPath (builtins.tail path) value; };
  # Removes path from attrs, and parents left empty.
  dropPath =
    path: attrs:
    let
      n = builtins.head path;
      rest = builtins.tail path;
      sub = dropPath rest attrs.${n};
    in
    if rest == [ ] then
      removeAttrs attrs [ n ]
    else if !(hasAttr n attrs) then
      attrs
    else if sub == { } then
      removeAttrs attrs [ n ]
    else
      attrs // { ${n} = sub; };
  # Recursive merge: lists concatenate, attribute sets merge.
  merge =
    a: b:
    if isAttrs a && isAttrs b then
      a // builtins.mapAttrs (n: v: if hasAttr n a then merge a.${n} v else v) b
    else if isList a && isList b then
      a ++ b
    else
      b;
  showOption = builtins.concatStringsSep ".";

  lib = {
    mkOption = o: o // { _option = true; };
    mkEnableOption = what: {
      _option = true;
      type = "bool";
      default = false;
      description = "Whether to enable ${what}.";
    };
    types = {
      str = "str";
      bool = "bool";
      strMatching = re: { inherit re; };
      ints.positive = "positive";
    };
    mkIf = cond: value: if cond then value else { };
    mkMerge = foldl' merge { };
    mkRenamedOptionModule = from: to: { _rename = { inherit from to; }; };
  };

  pkgs = {
    callPackage = path: args: "/nix/store/00000000000000000000000000000000-sovran-provisioner-client";
    jq = "/nix/store/00000000000000000000000000000000-jq";
    coreutils = "/nix/store/00000000000000000000000000000000-coreutils";
    gnused = "/nix/store/00000000000000000000000000000000-gnused";
    gnugrep = "/nix/store/00000000000000000000000000000000-gnugrep";
  };

  # Imported once without config, only to read its declarations.
  declared = import module {
    config = throw "declarations must not read config";
    inherit lib pkgs;
  };
  renames = map (m: m._rename) (filter (m: m ? _rename) (declared.imports or [ ]));
  opts = declared.options.sovran.deployConnect;
  prefix = [ "sovran" "deployConnect" ];

  # The user's definitions with the old paths forwarded.
  forwarded = foldl' (
    acc: r:
    if hasPath r.from acc.set then
      {
        set = merge (dropPath r.from acc.set) (setPath r.to (getPath r.from acc.set));
        warnings =
          acc.warnings
          ++ [ "The option `${showOption r.from}' defined in `${file}' has been renamed to `${showOption r.to}'." ];
      }
    else
      acc
  ) { inherit set; warnings = [ ]; } renames;

  given = getPath prefix forwarded.set;
  defined = if given == null then { } else given;
  unknown =
    filter (n: !(hasAttr n opts)) (attrNames defined)
    ++ (if removeAttrs forwarded.set [ "sovran" ] != { } || removeAttrs (forwarded.set.sovran or { }) [ "deployConnect" ] != { } then
      [ "outside sovran.deployConnect" ]
    else
      [ ]);

  valid =
    t: v:
    if isAttrs t && t ? re then
      isString v && match t.re v != null
    else if t == "positive" then
      isInt v && v > 0
    else if t == "bool" then
      isBool v
    else
      isString v;
  values = builtins.mapAttrs (n: o: o.default or null) opts // defined;
  bad = filter (n: values.${n} != null && !(valid opts.${n}.type values.${n})) (attrNames values);

  config =
    if unknown != [ ] then
      throw "The option does not exist: ${toString unknown}"
    else if bad != [ ] then
      throw "invalid sovran.deployConnect values: ${toString bad}"
    else
      {
        sovran.deployConnect = values;
        services.tailscale.package = "/nix/store/00000000000000000000000000000000-tailscale";
      };

  evaluated = import module { inherit config lib pkgs; };
in
{
  options = builtins.mapAttrs (n: o: o.default or null) opts;
  values = config.sovran.deployConnect;
  inherit (forwarded) warnings;
  inherit (evaluated) config;
}
