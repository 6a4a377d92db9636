# A stand-in for the nixpkgs flake input: `lib` (./stub-lib.nix plus nixosSystem) and, per
# system, the package set Cairn's expressions use. Builders return records that look like
# derivations (type, name, outPath, drvPath, meta) and keep every attribute they were given, so
# the tests can inspect what would be built; `callPackage` calls the real files of nixos/pkgs/
# with these stubs, so a misspelt argument, a missing attribute or a broken interpolation fails
# here. Nothing is built and nothing of nixpkgs is used: names are the nixpkgs names, checked
# against nixpkgs' sources by hand (docs/nix.md, "What was and was not run", lists them).
let
  lib = import ./stub-lib.nix;
  inherit (builtins)
    functionArgs
    hashString
    intersectAttrs
    isFunction
    substring
    ;

  storePath = name: "/nix/store/${substring 0 32 (hashString "sha256" name)}-${name}";

  # A derivation-like record; `attrs` are kept as given (sources, phases, passthru).
  drv =
    name: attrs:
    let
      self =
        attrs
        // (attrs.passthru or { })
        // {
          type = "derivation";
          inherit name;
          outPath = storePath name;
          drvPath = storePath "${name}.drv";
          meta = attrs.meta or { };
          overrideAttrs = f: drv name (attrs // f attrs);
          overridePythonAttrs = f: drv name (attrs // f attrs);
          override = args: drv name (attrs // args);
        };
    in
    self;

  # stdenv.mkDerivation: attrs or `finalAttrs: attrs` (finalAttrs.finalPackage is the result).
  mkDerivation =
    arg:
    let
      attrs = if isFunction arg then arg final else arg;
      name = attrs.name or "${attrs.pname}-${attrs.version}";
      final = drv name attrs // {
        finalPackage = final;
      };
    in
    final;

  leaf = name: drv name { meta.mainProgram = name; };

  pkgsFor =
    system:
    let
      pkgs = {
        inherit lib system;
        stdenv = {
          inherit mkDerivation;
          hostPlatform.system = system;
        };
        stdenvNoCC = {
          inherit mkDerivation;
        };
        callPackage =
          fn: overrides:
          let
            f = if isFunction fn then fn else import fn;
          in
          f (intersectAttrs (functionArgs f) pkgs // overrides);

        runCommand = name: env: script: drv name (env // { buildCommand = script; });
        writeText = name: text: drv name { inherit text; };
        writeShellScriptBin =
          name: text:
          drv name {
            inherit text;
            meta.mainProgram = name;
          };
        formats.toml = _: {
          generate = name: value: drv name { tomlValue = value; };
        };
        testers.runNixOSTest = test: drv "vm-test-run-cairn" { inherit test; };
        mkShell = attrs: drv "nix-shell" attrs;
        python3 = leaf "python3" // {
          withPackages = f: drv "python3-env" { packageFunction = f; };
        };
        python3Packages = {
          buildPythonApplication =
            attrs:
            drv "${attrs.pname}-${attrs.version}" (
              attrs
              // {
                dependencies = attrs.dependencies or [ ];
              }
            );
          toPythonModule = p: p;
          setuptools = leaf "setuptools";
          cryptography = leaf "cryptography";
          httpx = leaf "httpx";
          pydantic = leaf "pydantic";
          aiohttp = leaf "aiohttp";
          joserfc = leaf "joserfc";
          tpm2-pytss = leaf "tpm2-pytss";
          sev-snp-measure = leaf "sev-snp-measure";
        };
        cudaPackages = {
          backendStdenv = {
            inherit mkDerivation;
          };
          cuda_nvcc = leaf "cuda_nvcc";
          cuda_cudart = leaf "cuda_cudart";
        };
        autoAddDriverRunpath = leaf "auto-add-driver-runpath-hook";
        rustPlatform.buildRustPackage = attrs: drv "${attrs.pname}-${attrs.version}" attrs;
        edk2 = leaf "edk2" // {
          version = "202511";
          mkDerivation =
            dsc: attrsOrFun:
            mkDerivation (
              finalAttrs:
              (if isFunction attrsOrFun then attrsOrFun finalAttrs else attrsOrFun)
              // {
                projectDscPath = dsc;
              }
            );
        };
      }
      // lib.genAttrs [
        "acpica-tools"
        "bash"
        "cargo"
        "cmake"
        "coreutils"
        "cryptsetup"
        "curl"
        "e2fsprogs"
        "gawk"
        "gnused"
        "gnutar"
        "gzip"
        "jq"
        "makeWrapper"
        "nasm"
        "nodejs"
        "openssl"
        "pkg-config"
        "qemu"
        "qemu-utils"
        "ruff"
        "rustc"
        "secp256k1"
        "sev-snp-measure"
        "shellcheck"
        "swtpm"
        "systemd"
        "tpm2-tools"
        "util-linux"
      ] leaf;
    in
    pkgs;

  # lib.nixosSystem needs the real module system; here it records the modules and answers the
  # attributes the flake reads (config.system.build.*, config.system.name).
  nixosSystem =
    { modules, ... }:
    {
      _type = "configuration";
      inherit modules;
      config.system = {
        name = "stub-system";
        build = {
          toplevel = drv "nixos-system-stub" { };
          vm = drv "nixos-vm-stub" { };
          cairnBoot = drv "cairn-boot-stub" { };
          uki = drv "nixos-uki-stub" { };
          image = drv "repart-image-stub" { };
        };
        boot.loader.ukiFile = "nixos.efi";
      };
      config.image.repart.imageFile = "cairn-cvm-cloud.raw";
    };
in
{
  lib = lib // {
    inherit nixosSystem;
  };
  legacyPackages = lib.genAttrs [
    "x86_64-linux"
    "aarch64-linux"
  ] pkgsFor;
  inherit drv pkgsFor storePath;
  outPath = "/nix/store/00000000000000000000000000000000-nixpkgs-stub";
}
