# Cloud images of a Cairn VM (Azure, GCP, AWS): one disk image of the same system for every
# cloud, booted by the cloud's UEFI firmware from a unified kernel image (UKI) and measured into
# the cloud's vTPM.
#
# On cloud CVMs the hardware report (SEV-SNP MEASUREMENT, TDX MRTD) covers the provider's firmware
# or paravisor, not the guest OS: the OS is measured only into the vTPM. So the image boots a UKI
# (systemd-stub + kernel + initrd + command line + os-release, nixpkgs' boot.uki) as the firmware's
# only boot application, \EFI\BOOT\BOOTX64.EFI on the ESP: the firmware measures it into PCR 4,
# systemd-stub its sections into PCR 11, the kernel's EFI stub its load options and initrd into
# PCR 9. `cairn reference-values --uki` predicts them (packages.vtpm-reference-values).
#
# The disk is built with systemd-repart (nixpkgs' nixos/modules/image/repart.nix): an ESP holding
# only the UKI and an ext4 root holding the system's closure. No boot loader is installed and
# nothing runs switch-to-configuration, so the image does not depend on a bootloader install
# step. The root file system is NOT measured: the command line pins the toplevel's store path
# (init=), not the files on the disk (docs/reference-values.md, docs/trust-model.md).
{
  config,
  lib,
  modulesPath,
  ...
}:
let
  cfg = config.cairn.cloud;
  uki = "${config.system.build.uki}/${config.system.boot.loader.ukiFile}";
in
{
  imports = [ "${modulesPath}/image/repart.nix" ];

  options.cairn.cloud = {
    enable = lib.mkEnableOption "the Cairn cloud image (UKI on an ESP, the system on ext4)";
    espSize = lib.mkOption {
      type = lib.types.str;
      default = "256M";
      description = "Size of the EFI system partition (it holds only the UKI).";
    };
  };

  config = lib.mkIf cfg.enable {
    image.repart = {
      name = "cairn-cvm-cloud";
      partitions = {
        "10-esp" = {
          contents."/EFI/BOOT/BOOTX64.EFI".source = uki;
          repartConfig = {
            Type = "esp";
            Format = "vfat";
            Label = "ESP";
            SizeMinBytes = cfg.espSize;
            SizeMaxBytes = cfg.espSize;
          };
        };
        "20-root" = {
          storePaths = [ config.system.build.toplevel ];
          repartConfig = {
            Type = "root";
            Format = "ext4";
            Label = "nixos";
            Minimize = "guess";
          };
        };
      };
    };

    fileSystems."/" = {
      device = "/dev/disk/by-label/nixos";
      fsType = "ext4";
    };

    # Root disks: Hyper-V SCSI (Azure before the v6 sizes), NVMe (Azure v6, GCP, AWS), virtio.
    boot.initrd.availableKernelModules = [
      "hv_vmbus"
      "hv_storvsc"
      "sd_mod"
    ];
    # Clouds run SEV-SNP or TDX guests: both guest drivers (configfs-tsm works with either).
    boot.kernelModules = [
      "sev-guest"
      "tdx-guest"
    ];

    # The TPM-sealed state volume is a data disk attached with a partition named cairn-state.
    cairn.luksTpm.device = lib.mkDefault "/dev/disk/by-partlabel/cairn-state";
  };
}
