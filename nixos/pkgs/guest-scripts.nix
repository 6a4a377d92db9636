# The guest's runtime steps (scripts/guest/): the same files the tests run on the development
# machines (tests/nix/test_guest_*.py) and non-Nix guest images use, each wrapped with the PATH
# it needs. shellcheck runs again here (installCheck).
#   cairn-state-init   first-boot LUKS2 + TPM2 enrolment, crash-safe; refuses foreign volumes
#   cairn-state-mkfs   the opened volume's ext4 file system on its first open (not x-systemd.makefs)
#   cairn-service-key  a demo service's secp256k1 key and public key file, before it starts
#   cairn-export-root  the simulated TEE root (PEM) on stdout, via `cairn-agent export-root -o -`
#   cairn-gpu-check    the CUDA sample, once the agent's self-check passed (cairn.gpu)
{
  lib,
  stdenvNoCC,
  makeWrapper,
  shellcheck,
  bash,
  coreutils,
  gnused,
  gawk,
  jq,
  openssl,
  util-linux,
  cryptsetup,
  e2fsprogs,
  systemd,
  curl,
}:
let
  project = (lib.importTOML ../../agent/pyproject.toml).project;
  # What each script calls (see the "Needs:" line of its header), plus sed/awk for --help.
  common = [
    coreutils
    gnused
    gawk
  ];
  runtimePaths = {
    cairn-state-init = common ++ [
      cryptsetup
      systemd
      util-linux
      jq
    ];
    cairn-state-mkfs = common ++ [
      e2fsprogs
      util-linux
      systemd
    ];
    cairn-service-key = common ++ [ openssl ];
    cairn-export-root = common ++ [ util-linux ];
    cairn-gpu-check = common ++ [
      curl
      jq
    ];
  };
in
stdenvNoCC.mkDerivation {
  pname = "cairn-guest-scripts";
  inherit (project) version;
  src = ../../scripts/guest;

  nativeBuildInputs = [ makeWrapper ];
  buildInputs = [ bash ]; # patchShebangs: #!/usr/bin/env bash -> this bash

  installPhase = ''
    runHook preInstall
    ${lib.concatMapStrings (name: ''
      install -Dm755 ${name} $out/bin/${name}
      wrapProgram $out/bin/${name} --prefix PATH : ${lib.makeBinPath runtimePaths.${name}}
    '') (builtins.attrNames runtimePaths)}
    runHook postInstall
  '';

  doInstallCheck = true;
  nativeInstallCheckInputs = [ shellcheck ];
  installCheckPhase = ''
    runHook preInstallCheck
    shellcheck --shell=bash ${lib.concatMapStringsSep " " (name: "$src/${name}") (builtins.attrNames runtimePaths)}
    runHook postInstallCheck
  '';

  meta = {
    description = "Cairn guest runtime steps: state volume, service keys, simulated root export, GPU check";
    license = lib.licenses.asl20;
    platforms = lib.platforms.linux;
  };
}
