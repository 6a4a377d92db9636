# `nix run .#run-vm`: boot the cvm-qemu VM with a software TPM (swtpm) and the agent's port
# forwarded to 127.0.0.1:8080, then say how to verify its evidence from the host.
{
  writeShellApplication,
  vm,
  cairn-verifier,
}:
writeShellApplication {
  name = "cairn-run-vm";
  runtimeInputs = [ cairn-verifier ];
  text = ''
    # qemu-vm.nix's start script starts swtpm itself (virtualisation.tpm.enable) and keeps its
    # state, the disks and the TPM under the current directory (NIX_DISK_IMAGE, NIX_SWTPM_DIR).
    cat <<'HELP'
    Booting cvm-qemu (simulated SEV-SNP, swtpm TPM). When the agent is up, in another shell:

      The agent's API is forwarded to http://127.0.0.1:8080. Its simulated root of trust is
      made in the guest: log in as root on this console, run `cairn-export-root`, and save
      the PEM it prints on the host as simulated-root.pem. Then:

      cairn verify evidence http://127.0.0.1:8080 --trust-simulated-root simulated-root.pem

    Nothing in this VM is hardware-backed: the verifier says so. Quit QEMU with Ctrl-a x.
    HELP
    exec ${vm}/bin/run-*-vm "$@"
  '';
}
