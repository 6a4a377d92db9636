# Evaluate one NixOS module of Cairn on its own, with the stub lib and package set: what it
# declares and what it defines for a given setting of the options it reads.
#
# This is not nixpkgs' module system: definitions of different modules are not merged, option
# defaults come only from the module's own declarations, and `config` is the module's defaults
# overlaid with `settings` (what the rest of the system would have set). What it does evaluate
# for real is the module's own code: every attribute it reads, every lib function it calls,
# every string it builds (unit commands, file contents), and which definitions its conditions
# produce. Markers are resolved the way lib/modules.nix resolves them for a single definition:
# mkIf drops false branches, mkMerge merges its contents, mkOverride keeps its priority
# (`{ _priority; _value; }` in the output, so priorities can be compared with nixpkgs' own
# definitions), and declared options are type-checked against their defaults and the settings.
{
  nixpkgs ? import ./stub-nixpkgs.nix,
  system ? "x86_64-linux",
}:
let
  inherit (nixpkgs) lib;
  pkgs = nixpkgs.legacyPackages.${system};
  inherit (builtins)
    all
    attrNames
    concatLists
    filter
    isAttrs
    isFunction
    isList
    isPath
    listToAttrs
    mapAttrs
    ;

  utils.escapeSystemdPath =
    s:
    let
      trimmed = lib.removeSuffix "/" (lib.removePrefix "/" s);
      escaped = lib.escapeC (lib.stringToCharacters " !\"#$%&'()*+,;<=>=@[\\]^`{|}~-") trimmed;
    in
    builtins.replaceStrings [ "/" ] [ "-" ] escaped;

  isOption = v: isAttrs v && (v._type or null) == "option";
  isMarker = v: isAttrs v && v ? _type && !(v ? outPath);

  # The defaults of declared options, as a config tree.
  defaultsOf =
    declared:
    listToAttrs (
      concatLists (
        map (
          name:
          let
            v = declared.${name};
          in
          if isOption v then
            if v ? default then
              [
                {
                  inherit name;
                  value = v.default;
                }
              ]
            else
              [ ]
          else if isAttrs v && !(v ? _type) then
            [
              {
                inherit name;
                value = defaultsOf v;
              }
            ]
          else
            [ ]
        ) (attrNames declared)
      )
    );

  # Type errors of `values` against the declarations (options declared but not set are fine).
  typeErrors =
    prefix: declared: values:
    concatLists (
      map (
        name:
        let
          v = declared.${name};
          path = "${prefix}${name}";
        in
        if !(values ? ${name}) then
          [ ]
        else if isOption v then
          if v ? type && !(v.type.check values.${name}) then
            [ "${path}: ${builtins.toJSON values.${name}} is not a ${v.type.name}" ]
          else
            [ ]
        else if isAttrs v && !(v ? _type) && isAttrs values.${name} then
          typeErrors "${path}." v values.${name}
        else
          [ ]
      ) (attrNames declared)
    );

  # Resolve the markers of one module's definitions (see the header).
  resolve =
    v:
    if isMarker v then
      if v._type == "if" then
        (if v.condition then resolve v.content else { _dropped = true; })
      else if v._type == "merge" then
        mergeAll (filter (x: !(isAttrs x && x ? _dropped)) (map resolve v.contents))
      else if v._type == "override" then
        {
          _priority = v.priority;
          _value = resolve v.content;
        }
      else
        v
    else if isAttrs v && !(v ? outPath) && !(isFunction v) then
      let
        resolved = mapAttrs (_: resolve) v;
      in
      lib.genAttrs (filter (n: !(isAttrs resolved.${n} && resolved.${n} ? _dropped)) (
        attrNames resolved
      )) (n: resolved.${n})
    else if isList v then
      map resolve v
    else
      v;

  mergeAll = builtins.foldl' merge2 { };
  merge2 =
    a: b:
    a
    // mapAttrs (
      n: bv:
      if !(a ? ${n}) then
        bv
      else if isAttrs a.${n} && isAttrs bv && !(a.${n} ? _priority) && !(bv ? _priority) then
        merge2 a.${n} bv
      else if isList a.${n} && isList bv then
        a.${n} ++ bv
      else
        {
          _conflict = [
            a.${n}
            bv
          ];
        }
    ) b;

  # Drop what JSON cannot hold (functions), keep derivations as their store paths.
  toData =
    v:
    if isFunction v then
      "<function>"
    else if isPath v then
      toString v
    else if isAttrs v && v ? outPath then
      toString v.outPath
    else if isAttrs v then
      mapAttrs (_: toData) v
    else if isList v then
      map toData v
    else
      v;

  # evalModule { module; settings; options; }: `options` are other modules' declarations as the
  # module would see them through its `options` argument (e.g. services.cairn-agent).
  evalModule =
    {
      module,
      settings ? { },
      options ? { },
      extraArgs ? { },
    }:
    let
      fn = if isFunction module then module else if isPath module then import module else (_: module);
      result = fn (
        {
          inherit
            config
            lib
            pkgs
            utils
            ;
          options = lib.recursiveUpdate options declared;
          modulesPath = "/nix/store/00000000000000000000000000000000-nixpkgs-stub/nixos/modules";
        }
        // extraArgs
      );
      declared = result.options or { };
      shorthand = !(result ? config) && !(result ? options);
      definitions =
        if shorthand then
          removeAttrs result [
            "imports"
            "meta"
          ]
        else
          result.config or { };
      config = lib.recursiveUpdate (defaultsOf declared) settings;
    in
    {
      imports = map (i: if isPath i || builtins.isString i then toString i else "<module>") (
        result.imports or [ ]
      );
      declaredTypeErrors = typeErrors "" declared config;
      definitions = toData (resolve definitions);
      config = toData config;
      rawConfig = config;
      inherit result;
    };
in
{
  inherit
    evalModule
    pkgs
    lib
    utils
    toData
    ;
  inherit (nixpkgs) drv;
}
