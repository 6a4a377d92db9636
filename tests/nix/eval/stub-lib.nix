# A small stand-in for nixpkgs' `lib`, for evaluating Cairn's Nix code where nixpkgs cannot be
# fetched (tests/nix/test_nix_eval.py, .ci/run). It holds only functions the Cairn code calls,
# each with the name and behaviour of its nixpkgs counterpart (lib/attrsets.nix, lists.nix,
# strings.nix, modules.nix, options.nix, types.nix, meta.nix, licenses.nix): calling anything
# else fails the evaluation, so a typo in a lib name is caught here.
#
# The module-system functions build the same markers nixpkgs builds (`_type` "if", "merge",
# "override", "option"); ./modules.nix resolves them for one module at a time. Types carry a
# `check` so declared defaults and the tests' settings are type-checked.
let
  inherit (builtins)
    attrNames
    concatStringsSep
    elem
    filter
    foldl'
    genList
    isAttrs
    isBool
    isFloat
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    map
    replaceStrings
    stringLength
    substring
    ;

  mkType = name: check: {
    _type = "option-type";
    inherit name check;
  };
  isDerivation = v: isAttrs v && (v.type or null) == "derivation";
  isStringLike = v: isString v || isPath v || (isAttrs v && v ? outPath);

  # lib.strings.escapeC for the characters systemd's path escaping replaces (systemd.unit(5)).
  escapedCodes = {
    " " = "20";
    "!" = "21";
    "\"" = "22";
    "#" = "23";
    "$" = "24";
    "%" = "25";
    "&" = "26";
    "'" = "27";
    "(" = "28";
    ")" = "29";
    "*" = "2a";
    "+" = "2b";
    "," = "2c";
    "-" = "2d";
    "." = "2e";
    ";" = "3b";
    "<" = "3c";
    "=" = "3d";
    ">" = "3e";
    "@" = "40";
    "[" = "5b";
    "\\" = "5c";
    "]" = "5d";
    "^" = "5e";
    "`" = "60";
    "{" = "7b";
    "|" = "7c";
    "}" = "7d";
    "~" = "7e";
  };
  escapeC = chars: replaceStrings chars (map (c: "\\x${escapedCodes.${c}}") chars);
  stringToCharacters = s: genList (i: substring i 1 s) (stringLength s);
in
rec {
  # --- attrsets, lists, strings -------------------------------------------------------------
  optional = cond: x: if cond then [ x ] else [ ];
  allUnique =
    list:
    length (foldl' (seen: x: if elem x seen then seen else seen ++ [ x ]) [ ] list) == length list;
  optionals = cond: xs: if cond then xs else [ ];
  optionalAttrs = cond: as: if cond then as else { };
  optionalString = cond: s: if cond then s else "";
  genAttrs =
    names: f:
    listToAttrs (
      map (n: {
        name = n;
        value = f n;
      }) names
    );
  mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (attrNames attrs);
  concatMapStrings = f: list: concatStringsSep "" (map f list);
  concatMapStringsSep =
    sep: f: list:
    concatStringsSep sep (map f list);
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  hasSuffix =
    suffix: s:
    let
      n = stringLength s;
      m = stringLength suffix;
    in
    n >= m && substring (n - m) m s == suffix;
  removePrefix = prefix: s: if hasPrefix prefix s then substring (stringLength prefix) (-1) s else s;
  removeSuffix =
    suffix: s: if hasSuffix suffix s then substring 0 (stringLength s - stringLength suffix) s else s;
  inherit stringToCharacters escapeC;
  # lib.strings.escapeShellArg: single-quote unless every character is safe.
  escapeShellArg =
    arg:
    let
      s = toString arg;
    in
    if builtins.match "[[:alnum:],._+:@%/-]+" s != null then
      s
    else
      "'${replaceStrings [ "'" ] [ "'\\''" ] s}'";
  escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
  makeBinPath = pkgs: concatStringsSep ":" (map (p: "${p}/bin") pkgs);
  recursiveUpdate =
    lhs: rhs:
    lhs
    // builtins.mapAttrs (
      n: v: if isAttrs v && isAttrs (lhs.${n} or null) && !(v ? _type) then recursiveUpdate lhs.${n} v else v
    ) rhs;
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  # lib.meta.getExe (no warning path: the stub requires meta.mainProgram).
  getExe = x: "${x}/bin/${x.meta.mainProgram}";
  inherit isDerivation;

  # --- module system markers (lib/modules.nix) ----------------------------------------------
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption =
    name:
    mkOption {
      default = false;
      example = true;
      description = "Whether to enable ${name}.";
      type = types.bool;
    };
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };
  literalMD = text: {
    _type = "literalMD";
    inherit text;
  };

  # --- option types (lib/types.nix), with their checks ----------------------------------------
  types = {
    str = mkType "str" isString;
    bool = mkType "bool" isBool;
    port = mkType "port" (v: isInt v && v >= 0 && v <= 65535);
    package = mkType "package" isDerivation;
    path = mkType "path" (v: isStringLike v && hasPrefix "/" (toString v));
    number = mkType "number" (v: isInt v || isFloat v);
    strMatching = pattern: mkType "strMatching" (v: isString v && builtins.match pattern v != null);
    nonEmptyStr = mkType "nonEmptyStr" (v: isString v && builtins.match "[[:space:]]*" v == null);
    # As nixpkgs' enum, it keeps its values in functor.payload (tests/nix/test_module_keys.py).
    enum =
      values:
      mkType "enum" (v: elem v values)
      // {
        functor.payload = { inherit values; };
      };
    addCheck = elemType: check: elemType // { check = v: elemType.check v && check v; };
    nullOr = t: mkType "nullOr" (v: v == null || t.check v);
    listOf = t: mkType "listOf" (v: isList v && builtins.all t.check v);
    attrsOf = t: mkType "attrsOf" (v: isAttrs v && builtins.all (n: t.check v.${n}) (attrNames v));
    submodule =
      m:
      (mkType "submodule" isAttrs)
      // {
        options = m.options or m;
      };
    ints = {
      between = lo: hi: mkType "intBetween" (v: isInt v && v >= lo && v <= hi);
      positive = mkType "positiveInt" (v: isInt v && v > 0);
    };
  };

  # --- lib/licenses.nix, lib/systems (only what Cairn's packages name) -----------------------
  licenses = {
    asl20 = {
      spdxId = "Apache-2.0";
    };
    bsd2 = {
      spdxId = "BSD-2-Clause";
    };
  };
  platforms.linux = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  # lib.nixosSystem is stubbed by ./stub-nixpkgs.nix (it needs the whole module system).
  inherit isFunction foldl' filter length;
}
