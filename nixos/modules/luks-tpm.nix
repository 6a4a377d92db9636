# Encrypted state for the Cairn services, unlocked by the (v)TPM.
#
# Every boot, `cairn-state-init` (scripts/guest/cairn-state-init, tested on the development
# machines against file-backed volumes and swtpm) runs before the volume's cryptsetup unit, which
# requires it: on the first boot it formats the device as LUKS2 with a random key made inside the
# VM (never in the image or the Nix store), enrols a systemd-tpm2 token sealed to `pcrs`, wipes
# the random key's slot and only then marks the header sealed; an interrupted first boot is
# formatted again on the next one (it never held data); a volume the guest did not create
# (another filesystem, LUKS1, a LUKS2 volume without Cairn's marker, or one with an added
# passphrase) is refused and left untouched, and then nothing opens it. systemd-cryptsetup opens
# the volume from the TPM (`headless`: it fails instead of asking for a password) and measures
# the volume key into PCR 15; `cairn-state-mkfs` makes its ext4 file system on the first open;
# `/var/lib/cairn` (agent and service keys) is mounted from it.
#
# What the PCR binding is worth, per profile (docs/trust-model.md, "State at rest"):
#  * PCR 7 is the firmware's Secure Boot measurement. cvm-qemu boots with SeaBIOS (no Secure
#    Boot) and the SEV-SNP profile with the AmdSev OVMF, which is built without TPM support: on
#    both, PCR 7 is the same on every boot of every VM (systemd-cryptenroll itself warns that
#    the policy is "effectively unenforced" when the PCR was never extended). The sealing then
#    binds the key to that TPM only, and the TPM belongs to the host (swtpm, QEMU's vTPM), so the
#    host can unseal the volume. Nothing here protects the state from the host; what the state
#    volume adds is that a copy of the disk without the TPM state is useless.
#  * 4/9/11/12 (kernel, initrd, command line) are not used by default: they change on every
#    update, which would lose the state unless it is re-sealed first. Which code runs is proven
#    to relying parties by the TEE launch measurement instead.
#  * Keeping the key from the host needs a key only an attested guest can obtain (SNP derived
#    keys, a key broker): not implemented yet.
# If unsealing fails (another TPM, a changed PCR) the data is unrecoverable by design. There is
# no recovery key: cairn-state-init refuses a volume with any keyslot besides the TPM token's,
# because every extra key is a key someone outside the VM may hold.
{
  config,
  options,
  lib,
  pkgs,
  utils,
  ...
}:
let
  cfg = config.cairn.luksTpm;
  mapperName = "cairn-state";
  cryptsetupUnit = "systemd-cryptsetup@${utils.escapeSystemdPath mapperName}.service";
  deviceUnit = "${utils.escapeSystemdPath cfg.device}.device";
  pcrList = lib.concatMapStringsSep "+" toString cfg.pcrs;
  guestScripts = pkgs.callPackage ../pkgs/guest-scripts.nix { systemd = config.systemd.package; };
  mapperDevice = "/dev/mapper/${mapperName}";
  # No autoFormat (x-systemd.makefs): systemd marks an opened dm-crypt device without a file
  # system as not ready (99-systemd.rules), and systemd-makefs@ waits for it to be ready, so a
  # new volume would never be formatted or mounted. cairn-state-mkfs (below) makes the file
  # system instead. The device timeout runs from the start of the boot and must cover a first
  # boot's format and TPM enrolment, which take over a minute without KVM (the Debian twin of
  # this VM runs under TCG: docs/performance.md).
  stateFileSystem = {
    device = mapperDevice;
    fsType = "ext4";
    options = [
      "nofail"
      "x-systemd.device-timeout=5min"
      "nodev"
      "nosuid"
      "noexec"
    ];
  };
  # qemu-vm.nix (test and development VMs) replaces `fileSystems` with its own list
  # (nixos/modules/virtualisation/qemu-vm.nix: fileSystems = mkVMOverride cfg.fileSystems).
  inVm = options ? virtualisation && options.virtualisation ? fileSystems;
in
{
  options.cairn.luksTpm = {
    enable = lib.mkEnableOption "TPM2-sealed LUKS2 encryption of /var/lib/cairn, created on first boot";
    device = lib.mkOption {
      type = lib.types.str;
      default = "/dev/disk/by-partlabel/cairn-state";
      example = "/dev/vdb";
      description = "Block device holding the encrypted state (formatted on first boot only if it carries no signature at all).";
    };
    pcrs = lib.mkOption {
      type = lib.types.listOf (lib.types.ints.between 0 23);
      default = [ 7 ];
      description = "PCRs (sha256 bank) the volume key is sealed to; see the module header for what they are worth.";
    };
  };

  config = lib.mkIf cfg.enable (
    {
      assertions = [
        {
          assertion = cfg.pcrs != [ ];
          message = "cairn.luksTpm.pcrs must not be empty: the key would be unsealable in any state.";
        }
        {
          assertion = lib.hasPrefix "/dev/" cfg.device;
          message = "cairn.luksTpm.device must be a device path under /dev.";
        }
      ];

      security.tpm2.enable = true;
      environment.systemPackages = [ pkgs.cryptsetup ];

      environment.etc.crypttab.text = ''
        ${mapperName} ${cfg.device} - tpm2-device=auto,tpm2-measure-pcr=yes,headless=true,nofail
      '';

      systemd.services.cairn-state-init = {
        description = "Create or check the TPM-sealed Cairn state volume";
        # The cryptsetup unit (made by systemd-cryptsetup-generator from crypttab) requires this
        # one: a refused or unsealed volume is never opened.
        requiredBy = [ cryptsetupUnit ];
        before = [ cryptsetupUnit ];
        requires = [
          deviceUnit
          "dev-tpmrm0.device"
        ];
        after = [
          deviceUnit
          "dev-tpmrm0.device"
          "tpm2.target"
        ];
        unitConfig.DefaultDependencies = false;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs [
            "${guestScripts}/bin/cairn-state-init"
            "--device"
            cfg.device
            "--pcrs"
            pcrList
            "--tpm2-device"
            "auto"
          ];
          # The first-boot key lives on this tmpfs directory for the seconds it takes to enrol.
          RuntimeDirectory = "cairn-state-init";
          RuntimeDirectoryMode = "0700";
          UMask = "0077";
        };
        environment.TMPDIR = "/run/cairn-state-init";
      };

      # First open of a new volume: its ext4 file system (scripts/guest/cairn-state-mkfs), made
      # on the device node after cryptsetup, without waiting for the device unit (not ready
      # until a file system exists); an existing ext4 is left alone, anything else refused.
      systemd.services.cairn-state-mkfs = {
        description = "Create the file system of a new Cairn state volume";
        requires = [ cryptsetupUnit ];
        after = [ cryptsetupUnit ];
        requiredBy = [ "var-lib-cairn.mount" ];
        before = [ "var-lib-cairn.mount" ];
        unitConfig.DefaultDependencies = false;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs [
            "${guestScripts}/bin/cairn-state-mkfs"
            "--device"
            mapperDevice
          ];
        };
      };

      fileSystems."/var/lib/cairn" = stateFileSystem;
    }
    // lib.optionalAttrs inVm {
      virtualisation.fileSystems."/var/lib/cairn" = stateFileSystem;
    }
  );
}
