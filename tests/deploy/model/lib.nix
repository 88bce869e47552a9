# lib.nix: a small model of nixpkgs' module system, enough to evaluate
# this project's NixOS modules together with a model of the nixpkgs
# modules they touch (nixpkgs.nix) without nixpkgs itself.
#
# What it keeps of lib/modules.nix and lib/types.nix, because each is a way
# a module breaks on a real system:
# - every definition must name a declared option ("The option `…' does not
#   exist"), except below a submodule's freeformType;
# - an option is declared once ("… is already declared in …");
# - mkIf, mkMerge and mkOverride (mkDefault 1000, mkForce 50, an option's
#   default 1500) are pushed down and discharged as modules.nix does: only
#   the definitions of the highest priority are merged;
# - each definition is checked against the option's type, and single-valued
#   types (str, bool, int, path, package, enum) merge only equal values
#   ("… has conflicting definition values"); lists concatenate, lines join
#   with newlines, attrsOf merges per name, submodules are evaluated as
#   modules of their own with `name` set.
# What it leaves out: option documentation, renamed/removed option modules,
# _module.args, disabledModules, ordering (mkBefore/mkAfter).
let
  b = builtins;

  showLoc = loc: b.concatStringsSep "." loc;
  show = v: if b.isAttrs v && v ? outPath then v.outPath
    else if b.isFunction v then "<function>" else b.toJSON v;
  kind = v: if b.isAttrs v then v._type or null else null;
  zipLists = sets: b.zipAttrsWith (n: vs: b.concatLists vs) sets;

  self = rec {
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;

  mkOption = o: o // { _type = "option"; };
  isOption = v: kind v == "option";
  mkEnableOption = what: mkOption {
    type = types.bool;
    default = false;
    description = "Whether to enable ${what}.";
  };
  mkPackageOption = pkgs: name: _: mkOption {
    type = types.package;
    default = pkgs.${name};
  };

  # An attribute set of definitions, each possibly under mkIf, mkMerge or
  # mkOverride, becomes name -> list of definitions with those pushed
  # down (modules.nix: pushDownProperties).
  pushDown = v:
    let k = kind v; in
    if k == "merge" then zipLists (map pushDown v.contents)
    else if k == "if" then b.mapAttrs (n: map (mkIf v.condition)) (pushDown v.content)
    else if k == "override" then b.mapAttrs (n: map (mkOverride v.priority)) (pushDown v.content)
    else if b.isAttrs v then b.mapAttrs (n: x: [ x ]) v
    else throw "a definition that should be an attribute set is ${show v}";

  # One definition -> the values it contributes, with their priorities
  # (modules.nix: dischargeProperties, filterOverrides).
  discharge = prio: v:
    let k = kind v; in
    if k == "merge" then b.concatMap (discharge prio) v.contents
    else if k == "if" then
      (if !b.isBool v.condition then throw "mkIf called with a non-Boolean condition"
       else if v.condition then discharge prio v.content else [ ])
    else if k == "override" then discharge v.priority v.content
    else [ { inherit prio; value = v; } ];

  dischargeAll = defs: b.concatMap
    (d: map (x: x // { inherit (d) file; }) (discharge 100 d.value)) defs;

  highest = defs:
    let best = b.foldl' (m: d: if d.prio < m then d.prio else m) 99999 defs;
    in b.filter (d: d.prio == best) defs;

  # The value of one option from its definitions (modules.nix:
  # mergeDefinitions, evalOptionValue).
  evalOption = loc: opt: defs:
    let
      type = opt.type or types.unspecified;
      given = dischargeAll defs;
      dflt = if opt ? default then [ { prio = 1500; value = opt.default; file = "the default"; } ] else [ ];
      kept = highest (given ++ dflt);
      bad = b.filter (d: !(type.check d.value)) kept;
      merged =
        if kept == [ ] then throw "The option `${showLoc loc}' is used but not defined."
        else if bad != [ ] then
          throw "A definition for option `${showLoc loc}' is not of type `${type.description}'. Definition values:\n- In `${(b.head bad).file}': ${show (b.head bad).value}"
        else type.merge loc kept;
    in
    if opt ? apply then opt.apply merged else merged;

  mergeEqual = loc: defs:
    let first = b.head defs; in
    if b.all (d: d.value == first.value) defs then first.value
    else throw ("The option `${showLoc loc}' has conflicting definition values:"
      + b.concatStringsSep "" (map (d: "\n- In `${d.file}': ${show d.value}") defs));

  # Options tree of several modules; a leaf declared twice is an error.
  mergeDecls = loc: decls:
    if b.any (d: isOption d.options) decls then
      (if b.length decls > 1 then
        throw "The option `${showLoc loc}' in `${(b.elemAt decls 1).file}' is already declared in `${(b.head decls).file}'."
      else (b.head decls).options)
    else b.zipAttrsWith (n: ds: mergeDecls (loc ++ [ n ]) ds)
      (map (d: b.mapAttrs (n: v: { inherit (d) file; options = v; }) d.options) decls);

  # Config below an options (sub)tree from the definitions made there.
  mergeConfig = freeform: loc: tree: defs:
    if isOption tree then evalOption loc tree defs
    else
      let
        byName = zipLists (map (d: b.mapAttrs (n: map (value: { inherit (d) file; inherit value; }))
          (pushDown d.value)) defs);
        unknown = b.filter (n: !(tree ? ${n})) (b.attrNames byName);
        declared = b.mapAttrs (n: sub: mergeConfig freeform (loc ++ [ n ]) sub (byName.${n} or [ ])) tree;
        free = b.listToAttrs (b.concatMap (n:
          let ds = dischargeAll byName.${n}; in
          if ds == [ ] then [ ] else [ { name = n; value = evalOption (loc ++ [ n ]) { type = freeform.elemType or freeform; } byName.${n}; } ])
          unknown);
      in
      if unknown == [ ] then declared
      else if freeform != null then free // declared
      else let n = b.head unknown; in
        throw "The option `${showLoc (loc ++ [ n ])}' does not exist. Definition values:\n- In `${(b.head byName.${n}).file}'";

  evalModules = { modules, specialArgs ? { }, prefix ? [ ] }:
    let
      args = { inherit config; lib = self; options = tree; } // specialArgs;
      load = file: m:
        let
          isFile = b.isPath m || b.isString m;
          f = if isFile then import m else m;
          v = if b.isFunction f then f args else f;
          file' = if isFile then toString m else v._file or file;
          n = if b.any (k: v ? ${k}) [ "options" "config" "imports" ] then v
            else { config = removeAttrs v [ "_file" "meta" ]; };
        in
        [ {
          file = file';
          key = if isFile then file' else null;
          options = n.options or { };
          config = n.config or { };
          freeformType = v.freeformType or null;
        } ] ++ b.concatMap (load file') (n.imports or [ ]);
      all = b.concatMap (load "<unknown file>") modules;
      # A file imported twice counts once, as in modules.nix.
      unique = b.foldl' (acc: m:
        if m.key != null && b.elem m.key acc.keys then acc
        else { keys = acc.keys ++ [ m.key ]; list = acc.list ++ [ m ]; }) { keys = [ ]; list = [ ]; } all;
      mods = unique.list;
      tree = mergeDecls prefix (map (m: { inherit (m) file options; }) mods);
      freeforms = b.filter (t: t != null) (map (m: m.freeformType) mods);
      freeform = if freeforms == [ ] then null else b.head freeforms;
      config = mergeConfig freeform prefix tree (map (m: { inherit (m) file; value = m.config; }) mods);
    in
    { inherit config; options = tree; };

  types = rec {
    mkType = description: check: { inherit description check; merge = mergeEqual; };

    # lib/options.nix mergeDefaultOption
    unspecified = {
      description = "unspecified value";
      check = _: true;
      merge = loc: defs:
        let vs = map (d: d.value) defs; in
        if b.length vs == 1 then b.head vs
        else if b.all b.isList vs then b.concatLists vs
        else if b.all b.isAttrs vs then b.foldl' (x: y: x // y) { } vs
        else if b.all b.isBool vs then b.any (x: x) vs
        else if b.all b.isString vs then b.concatStringsSep "" vs
        else throw "Cannot merge definitions of `${showLoc loc}'.";
    };
    anything = unspecified // { description = "anything"; };
    raw = unspecified // { description = "raw value"; };
    attrs = unspecified // { description = "attribute set"; check = b.isAttrs; };
    bool = mkType "boolean" b.isBool;
    int = mkType "signed integer" b.isInt;
    ints = {
      positive = mkType "positive integer, meaning >0" (x: b.isInt x && x > 0);
      u16 = port;
    };
    port = mkType "16 bit unsigned integer; between 0 and 65535 (both inclusive)"
      (x: b.isInt x && x >= 0 && x <= 65535);
    str = mkType "string" b.isString;
    # lib/types.nix: separatedString "\n"
    lines = {
      description = "strings concatenated with \"\\n\"";
      check = b.isString;
      merge = loc: defs: b.concatStringsSep "\n" (map (d: d.value) defs);
    };
    strMatching = re: mkType "string matching the pattern ${re}"
      (x: b.isString x && b.match re x != null);
    # lib/types.nix: a path is anything that coerces to a string starting
    # with "/" (a store object included).
    path = mkType "path" (x:
      (b.isPath x || b.isString x || (b.isAttrs x && x ? outPath))
      && b.substring 0 1 (toString x) == "/");
    package = mkType "package" (x: b.isAttrs x && (x.type or null) == "derivation");
    enum = values: mkType "one of ${b.concatStringsSep ", " (map b.toJSON values)}"
      (x: b.elem x values);
    nullOr = t: {
      description = "null or ${t.description}";
      check = x: x == null || t.check x;
      merge = loc: defs:
        if b.all (d: d.value == null) defs then null
        else if b.any (d: d.value == null) defs then
          throw "The option `${showLoc loc}' is defined both null and not null."
        else t.merge loc defs;
    };
    either = t1: t2: {
      description = "${t1.description} or ${t2.description}";
      check = x: t1.check x || t2.check x;
      merge = loc: defs:
        if b.all (d: t1.check d.value) defs then t1.merge loc defs
        else if b.all (d: t2.check d.value) defs then t2.merge loc defs
        else throw "The option `${showLoc loc}' has conflicting definition values.";
    };
    oneOf = ts: b.foldl' either (b.head ts) (b.tail ts);
    listOf = t: {
      description = "list of ${t.description}";
      check = b.isList;
      merge = loc: defs: b.concatLists (b.genList (i:
        let d = b.elemAt defs i; in
        map (x: evalOption (loc ++ [ "[definition ${toString (i + 1)}-entry]" ]) { type = t; }
          [ { inherit (d) file; value = x; } ]) d.value) (b.length defs));
    };
    attrsOf = t: {
      elemType = t;
      description = "attribute set of ${t.description}";
      check = b.isAttrs;
      merge = loc: defs:
        let
          byName = zipLists (map (d: b.mapAttrs (n: map (value: { inherit (d) file; inherit value; }))
            (pushDown d.value)) defs);
        in
        b.listToAttrs (b.concatMap (n:
          if dischargeAll byName.${n} == [ ] then [ ]
          else [ { name = n; value = evalOption (loc ++ [ n ]) { type = t; } byName.${n}; } ])
          (b.attrNames byName));
    };
    submodule = m: {
      description = "submodule";
      check = x: b.isAttrs x || b.isFunction x;
      merge = loc: defs: (evalModules {
        modules = [ m ] ++ map (d:
          if b.isFunction d.value then d.value else { _file = d.file; config = d.value; }) defs;
        specialArgs = { name = b.elemAt loc (b.length loc - 1); };
        prefix = loc;
      }).config;
    };
  };

  # lib/modules.nix mkRenamedOptionModule (doRename): the old path is an
  # option of its own whose definitions go to the new one, with a warning
  # when it is defined. Left out: the priority of the old definition is
  # not carried over.
  mkRenamedOptionModule = from: to: { config, options, ... }:
    let
      unset = { _type = "unset"; };
      value = getAttrFromPath from config;
      defined = !(b.isAttrs value && value._type or null == "unset");
    in
    {
      options = setAttrByPath from (mkOption { type = types.unspecified; default = unset; });
      config = mkMerge [
        { warnings = optional defined "The option `${showLoc from}' has been renamed to `${showLoc to}'."; }
        (setAttrByPath to (mkIf defined value))
      ];
    };
  setAttrByPath = path: v:
    if path == [ ] then v else { ${b.head path} = setAttrByPath (b.tail path) v; };
  getAttrFromPath = path: set: b.foldl' (s: n: s.${n}) set path;

  # pkgs.formats.yaml's value type (pkgs/pkgs-lib/formats.nix).
  yamlValue = types.nullOr (types.oneOf [ types.bool types.int types.str types.path
    (types.attrsOf yamlValue) (types.listOf yamlValue) ]) // { description = "YAML value"; };

  # The few lib functions the modules call, with nixpkgs' meaning.
  concatStrings = b.concatStringsSep "";
  concatLists = b.concatLists;
  concatStringsSep = b.concatStringsSep;
  concatMapStrings = f: list: concatStrings (map f list);
  concatMapStringsSep = sep: f: list: b.concatStringsSep sep (map f list);
  mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (b.attrNames attrs);
  attrValues = attrs: map (n: attrs.${n}) (b.attrNames attrs);
  genAttrs = names: f: b.listToAttrs (map (n: { name = n; value = f n; }) names);
  hasPrefix = p: s: b.substring 0 (b.stringLength p) s == p;
  hasSuffix = suffix: s:
    let ls = b.stringLength suffix; l = b.stringLength s;
    in l >= ls && b.substring (l - ls) ls s == suffix;
  optional = c: x: if c then [ x ] else [ ];
  optionals = c: xs: if c then xs else [ ];
  optionalString = c: s: if c then s else "";
  optionalAttrs = c: a: if c then a else { };
  filter = b.filter;
  filterAttrs = pred: set: b.listToAttrs (b.concatMap (n:
    if pred n set.${n} then [ { name = n; value = set.${n}; } ] else [ ]) (b.attrNames set));
  hasAttrByPath = path: set:
    if path == [ ] then true
    else b.isAttrs set && set ? ${b.head path} && hasAttrByPath (b.tail path) set.${b.head path};
  elem = b.elem;
  last = l: b.elemAt l (b.length l - 1);
  stringAfter = deps: text: { inherit deps text; };
  escapeShellArg = s: "'${b.replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
  getExe = p: "${p}/bin/${p.meta.mainProgram or p.pname}";
  versions.majorMinor = v:
    let parts = b.filter b.isString (b.split "\\." v);
    in if b.length parts < 2 then v else "${b.elemAt parts 0}.${b.elemAt parts 1}";
};
in
self
