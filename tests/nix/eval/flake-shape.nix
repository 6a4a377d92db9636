# `nix flake check`'s structural checks, as far as they can run without nixpkgs: flake.nix's
# outputs function called with a stub nixpkgs (./stub-nixpkgs.nix), every output attribute
# checked the way Nix checks it (src/nix/flake.cc in NixOS/nix: checkDerivation, checkApp,
# checkModule, checkNixOSConfiguration, checkSystemName), plus what older Nix versions and flake
# schemas require of modules (a function or an attribute set, never a path).
#
#   nix-instantiate --eval --strict --json tests/nix/eval/flake-shape.nix
# evaluates to { problems = [ ... ]; checked = { "<output>.<system>.<name>" = "<kind>"; ... }; }
# and fails the evaluation only on a Nix error; tests/nix/test_nix_eval.py and .ci/run require
# `problems` to be empty.
{
  flakeFile ? ../../../flake.nix,
}:
let
  stub = import ./stub-nixpkgs.nix;
  inherit (stub.lib) concatMapStrings;
  inherit (builtins)
    all
    attrNames
    concatLists
    elem
    isAttrs
    isFunction
    isPath
    isString
    match
    ;

  flake = import flakeFile;
  self = outputs // {
    outPath = toString (dirOf flakeFile);
  };
  outputs = flake.outputs {
    inherit self;
    nixpkgs = stub;
  };

  isDerivation = v: isAttrs v && (v.type or null) == "derivation" && v ? drvPath;
  isSystem = s: match "[a-z0-9_]+-[a-z0-9_]+" s != null;
  knownOutputs = [
    "packages"
    "apps"
    "checks"
    "devShells"
    "nixosModules"
    "nixosConfigurations"
  ];

  problem = path: text: [ "${path}: ${text}" ];

  # Per-system outputs: every system name is valid and every entry passes `check`.
  perSystem =
    output: check:
    concatLists (
      map (
        system:
        if !isSystem system then
          problem "${output}.${system}" "not a valid system name"
        else
          concatLists (
            map (name: check "${output}.${system}.${name}" outputs.${output}.${system}.${name}) (
              attrNames outputs.${output}.${system}
            )
          )
      ) (attrNames outputs.${output})
    );

  checkDerivation =
    path: v:
    if isDerivation v then
      [ ]
    else
      problem path "is not a derivation";

  checkApp =
    path: v:
    if !isAttrs v then
      problem path "is not an attribute set"
    else
      (if (v.type or null) != "app" then problem path "type is not \"app\"" else [ ])
      ++ (
        if !(isString (v.program or null)) then
          problem path "program is not a string"
        else if match "/nix/store/[^/]+/.+" v.program == null then
          problem path "program ${v.program} is not a path inside a store path"
        else
          [ ]
      )
      ++ (if !(v ? meta.description) then problem path "has no meta.description" else [ ])
      ++ concatLists (
        map (a: problem path "has unsupported attribute ${a}") (
          builtins.filter (
            a:
            !(elem a [
              "type"
              "program"
              "meta"
            ])
          ) (attrNames v)
        )
      );

  checkModule =
    path: v:
    if isPath v then
      problem path "is a path; a module must be a function or an attribute set"
    else if isFunction v || isAttrs v then
      [ ]
    else
      problem path "is not a module";

  checkConfiguration =
    path: v:
    if isDerivation (v.config.system.build.toplevel or null) then
      [ ]
    else
      problem path "config.system.build.toplevel is not a derivation";

  problems =
    concatLists (
      map (o: problem o "is not an output this flake is expected to have") (
        builtins.filter (o: !(elem o knownOutputs)) (attrNames outputs)
      )
    )
    ++ concatLists (
      map (o: problem o "is missing") (builtins.filter (o: !(outputs ? ${o})) knownOutputs)
    )
    ++ perSystem "packages" checkDerivation
    ++ perSystem "checks" checkDerivation
    ++ perSystem "devShells" checkDerivation
    ++ perSystem "apps" checkApp
    ++ concatLists (
      map (n: checkModule "nixosModules.${n}" outputs.nixosModules.${n}) (attrNames outputs.nixosModules)
    )
    ++ concatLists (
      map (n: checkConfiguration "nixosConfigurations.${n}" outputs.nixosConfigurations.${n}) (
        attrNames outputs.nixosConfigurations
      )
    );

  kinds = {
    packages = "derivation";
    checks = "derivation";
    devShells = "derivation";
    apps = "app";
  };
  checked =
    builtins.listToAttrs (
      concatLists (
        map (
          output:
          concatLists (
            map (
              system:
              map (name: {
                name = "${output}.${system}.${name}";
                value = kinds.${output};
              }) (attrNames outputs.${output}.${system})
            ) (attrNames outputs.${output})
          )
        ) (attrNames kinds)
      )
    )
    // builtins.listToAttrs (
      map (n: {
        name = "nixosModules.${n}";
        value = if isFunction outputs.nixosModules.${n} then "module function" else "module attrset";
      }) (attrNames outputs.nixosModules)
    )
    // builtins.listToAttrs (
      map (n: {
        name = "nixosConfigurations.${n}";
        value = "configuration";
      }) (attrNames outputs.nixosConfigurations)
    );
in
{
  inherit problems checked;
  apps = builtins.mapAttrs (_: apps: builtins.mapAttrs (_: app: app.program or null) apps) (
    outputs.apps or { }
  );
  description = flake.description or null;
  modulesOfConfigurations = builtins.mapAttrs (
    _: c: map (m: if isPath m then toString m else if isFunction m then "<function>" else m) (c.modules or [ ])
  ) (outputs.nixosConfigurations or { });
  # runNixOSTest's argument: the test module, a function of the test's `lib` (stub here).
  vmTestName =
    let
      test = outputs.checks.x86_64-linux.cvm-qemu.test or null;
    in
    if isFunction test then (test { inherit (stub) lib; }).name else null;
  summary = concatMapStrings (p: p + "\n") problems;
}
