# Local QEMU VM (no TEE hardware): simulated SEV-SNP evidence, a real (software) TPM from swtpm,
# TPM-sealed state on a second virtio disk. Build with `nix build .#cvm-qemu-vm`, run with
# `nix run .#run-vm`.
{ lib, modulesPath, ... }:
{
  imports = [
    ./common.nix
    "${modulesPath}/virtualisation/qemu-vm.nix"
  ];

  networking.hostName = "cairn-cvm-qemu";
  cairn.cvm = {
    tee = "simulated";
    debug = true;
  };
  services.cairn-agent.tee.provider = "simulated-snp";

  virtualisation = {
    memorySize = 2048;
    cores = 2;
    graphics = false;
    tpm.enable = true;
    emptyDiskImages = [ 256 ];
    forwardPorts = [
      {
        from = "host";
        host.port = 8080;
        guest.port = 8080;
      }
    ];
  };
  cairn.luksTpm.device = "/dev/vdb";

  # Development VM only: root login on the serial console without a password.
  users.users.root.initialHashedPassword = lib.mkForce "";
}
