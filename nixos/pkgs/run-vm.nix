# `nix run .#run-vm`: scripts/cairn-run-vm with the cvm-qemu VM's start script and the verifier on
# its PATH. It keeps the root disk, the state volume and the swtpm state together in one state
# directory (--state DIR, default ./cairn-vm-state), forwards the agent to 127.0.0.1:8080 only,
# and says how to verify the VM's evidence from the host.
{
  lib,
  stdenvNoCC,
  makeWrapper,
  bash,
  coreutils,
  gawk,
  vm,
  name,
  cairn-verifier,
}:
stdenvNoCC.mkDerivation {
  pname = "cairn-run-vm";
  inherit (cairn-verifier) version;
  src = ../../scripts/cairn-run-vm;
  dontUnpack = true;

  nativeBuildInputs = [ makeWrapper ];
  buildInputs = [ bash ];

  installPhase = ''
    runHook preInstall
    install -Dm755 $src $out/bin/cairn-run-vm
    wrapProgram $out/bin/cairn-run-vm \
      --set CAIRN_VM_RUNNER ${vm}/bin/run-${name}-vm \
      --prefix PATH : ${
        lib.makeBinPath [
          coreutils
          gawk
          cairn-verifier
        ]
      }
    runHook postInstall
  '';

  meta = {
    description = "Boot the cvm-qemu VM with its disks and software TPM in one state directory";
    license = lib.licenses.asl20;
    mainProgram = "cairn-run-vm";
    platforms = lib.platforms.linux;
  };
}
