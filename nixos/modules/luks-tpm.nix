# Encrypted state for the Cairn services, unlocked by the (v)TPM.
#
# On first boot `cairn-state-init` finds the state device without a LUKS header, generates a
# random key *inside the VM* (never in the image or the Nix store), formats LUKS2 with it, enrols
# a TPM2 token sealed to `pcrs`, and wipes the random key: from then on only the TPM, in the
# same PCR state, can unlock the volume. Every boot, systemd-cryptsetup opens it from the TPM
# (`headless`: never asks for a password, it fails instead) and measures the volume key into
# PCR 15 after unlocking; `/var/lib/cairn` (the agent's and services' state) is mounted from it.
#
# PCR choice (default [ 7 ]), see docs/trust-model.md:
#  * 7 (Secure Boot policy: SB on/off, PK/KEK/db/dbx) is stable across NixOS updates signed with
#    the same keys and changes when Secure Boot is turned off or other keys are enrolled.
#  * 4/9/11/12 (boot loader, kernel, initrd, command line) are NOT used by default: they change
#    on every kernel/initrd/cmdline update, so the state would be lost on each `nixos-rebuild`
#    unless it is re-sealed before rebooting. Which code runs is instead proven remotely by the
#    TEE launch measurement, which relying parties check before handing out secrets.
#  * Nothing here protects against a host that controls the vTPM: only a vTPM inside the TEE
#    (Azure CVM paravisor, SVSM vTPM) keeps the sealed key from the hypervisor.
# Updates: with [ 7 ] a NixOS update keeps the volume unlockable. A change of Secure Boot
# state or keys makes unlocking fail; the data is then unrecoverable by design (there is no
# recovery key). Add a recovery key with `systemd-cryptenroll --recovery-key` if you need one.
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
  stateFileSystem = {
    device = "/dev/mapper/${mapperName}";
    fsType = "ext4";
    autoFormat = true;
    options = [
      "nofail"
      "x-systemd.device-timeout=60s"
      "nodev"
      "nosuid"
      "noexec"
    ];
  };
  # qemu-vm.nix (test and development VMs) replaces `fileSystems` with its own list.
  inVm = options ? virtualisation && options.virtualisation ? fileSystems;
in
{
  options.cairn.luksTpm = {
    enable = lib.mkEnableOption "TPM2-sealed LUKS2 encryption of /var/lib/cairn, created on first boot";
    device = lib.mkOption {
      type = lib.types.str;
      default = "/dev/disk/by-partlabel/cairn-state";
      example = "/dev/vdb";
      description = "Block device holding the encrypted state (formatted on first boot if it has no LUKS header).";
    };
    pcrs = lib.mkOption {
      type = lib.types.listOf (lib.types.ints.between 0 23);
      default = [ 7 ];
      description = "PCRs (sha256 bank) the volume key is sealed to; see the module header for the choice.";
    };
  };

  config = lib.mkIf cfg.enable (
  {
    assertions = [
      {
        assertion = cfg.pcrs != [ ];
        message = "cairn.luksTpm.pcrs must not be empty: the key would be unsealable in any state.";
      }
    ];

    security.tpm2.enable = true;
    environment.systemPackages = [ pkgs.cryptsetup ];

    environment.etc.crypttab.text = ''
      ${mapperName} ${cfg.device} - tpm2-device=auto,tpm2-measure-pcr=yes,headless=true,nofail
    '';

    systemd.services.cairn-state-init = {
      description = "Create the TPM-sealed Cairn state volume (first boot only)";
      wantedBy = [ cryptsetupUnit ];
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
      path = [
        pkgs.cryptsetup
        config.systemd.package
        pkgs.coreutils
      ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        PrivateTmp = true;
        UMask = "0077";
      };
      script = ''
        set -euo pipefail
        device=${lib.escapeShellArg cfg.device}
        if cryptsetup isLuks "$device"; then
          echo "$device is already a LUKS volume; nothing to do"
          exit 0
        fi
        echo "first boot: creating TPM2-sealed LUKS2 volume on $device (PCRs ${pcrList})"
        key=/tmp/initial-key
        head -c 64 /dev/urandom > "$key"
        cryptsetup luksFormat --batch-mode --type luks2 --key-file "$key" "$device"
        # Enrol the TPM2 token, then wipe the key-file slot (cryptenroll wipes after enrolling):
        # the random key never outlives this boot.
        systemd-cryptenroll --unlock-key-file="$key" --tpm2-device=auto \
          --tpm2-pcrs=${pcrList} --wipe-slot=password "$device"
        shred -u "$key"
      '';
    };

    fileSystems."/var/lib/cairn" = stateFileSystem;
  }
  // lib.optionalAttrs inVm {
    virtualisation.fileSystems."/var/lib/cairn" = stateFileSystem;
  });
}
