# Local QEMU VM (no TEE hardware): simulated SEV-SNP evidence, a real (software) TPM from swtpm,
# TPM-sealed state on a second virtio disk. Build with `nix build .#cvm-qemu-vm`, run with
# `nix run .#run-vm` (scripts/cairn-run-vm keeps disks and TPM in one state directory).
#
# Nothing here is confidential: SeaBIOS, no Secure Boot (PCR 7 never changes), the host's swtpm.
{
  config,
  lib,
  modulesPath,
  ...
}:
let
  derivedKey = (config.cairn.luksTpm.keySource or "tpm") == "snp-derived";
  simulatedChip = "/var/lib/cairn-simulated-snp";
  forwardedPorts = [
    8080
    9001
    9002
  ];
in
{
  imports = [
    ./common.nix
    "${modulesPath}/virtualisation/qemu-vm.nix"
  ];

  networking.hostName = "cairn-cvm-qemu";
  cairn.cvm = {
    tee = "simulated";
    debug = lib.mkDefault true;
  };
  services.cairn-agent.tee = {
    provider = "simulated-snp";
  }
  # With `cairn.luksTpm.keySource = "snp-derived"` (the simulated AMD-SP derives the state key;
  # `./dev vm -- test --key-source snp-derived`): the simulated chip lives on the root disk, as
  # hardware would outside the volume its key opens, and the simulated launch measurement covers
  # the SMBIOS product version the host launches the VM with (QEMU -smbios type=1,version=…), so
  # the host can launch the same disks as another guest.
  // lib.optionalAttrs derivedKey {
    simulatedDirectory = simulatedChip;
    simulatedLaunchInputs = [ "/sys/class/dmi/id/product_version" ];
  };

  virtualisation = {
    memorySize = 2048;
    cores = 2;
    graphics = false;
    tpm.enable = true;
    # The state volume: /dev/vdb (the root disk is vda). qemu-vm.nix creates it as
    # $TMPDIR/empty0.qcow2; cairn-run-vm points TMPDIR at its state directory so it persists.
    emptyDiskImages = [ 256 ];
    # The agent and both demo services, each on the same port on the host's loopback only:
    # qemu-vm.nix's default host.address "" binds every host interface.
    forwardPorts = map (port: {
      from = "host";
      host.address = "127.0.0.1";
      host.port = port;
      guest.port = port;
    }) forwardedPorts;
  };
  # User networking reaches the guest's own address, not its loopback: the services listen on
  # every guest interface, and the firewall lets their ports in (the agent opens its own).
  services.echo-cpp.listen = "0.0.0.0:9001";
  services.echo-rust.listen = "0.0.0.0:9002";
  networking.firewall.allowedTCPPorts = [
    9001
    9002
  ];
  cairn.luksTpm.device = "/dev/vdb";

  # Write the agent's simulated root to the host through qemu-vm.nix's xchg share (/tmp/xchg in
  # the guest, $TMPDIR/xchg on the host), for `cairn verify evidence --trust-simulated-root`
  # there. It runs as the agent's user on the agent's state directory, before the agent, so the
  # provider's keys are made once, by whichever runs first; rewritten on every boot.
  systemd.services.cairn-export-simulated-root = {
    description = "Export the agent's simulated root to the host (xchg share)";
    wantedBy = [ "multi-user.target" ];
    before = [ "cairn-agent.service" ];
    unitConfig.RequiresMountsFor = [
      "/var/lib/cairn"
      "/tmp/xchg"
    ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      User = "cairn-agent";
      Group = "cairn-agent";
      StateDirectory = [
        "cairn/agent"
      ]
      ++ lib.optional derivedKey (lib.removePrefix "/var/lib/" simulatedChip);
      StateDirectoryMode = "0700";
      ExecStart = "${config.services.cairn-agent.exportRoot}/bin/cairn-export-root";
      StandardOutput = "truncate:/tmp/xchg/simulated-root.pem";
      # Only the PEM goes into the file: messages (the agent logs to stderr) go to the journal.
      # StandardError defaults to inherit, i.e. into the same file.
      StandardError = "journal";
    };
  };

  # Development VM only: root login on the serial console without a password.
  users.users.root.initialHashedPassword = lib.mkForce "";
}
