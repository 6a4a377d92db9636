# Confidential-VM profile: systemd initrd, the TEE guest drivers, no consoles in production, and
# a direct-kernel-boot bundle whose command line pins the NixOS system (init=<toplevel>/init).
#
# On SEV-SNP the AmdSev OVMF hashes kernel, initrd and command line into the launch measurement
# (the SEV kernel-hashes table); on TDX the TD firmware measures them into RTMRs. Because the
# command line names the toplevel store path, the measurement pins the whole NixOS system.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.cairn.cvm;
  toplevel = config.system.build.toplevel;
  # The netboot module (configurations/hardware.nix) appends the Nix store to the initrd, so
  # the measured initrd covers every file of the system; otherwise the plain initrd is used.
  initrd =
    if config.system.build ? netbootRamdisk then
      config.system.build.netbootRamdisk
    else
      config.system.build.initialRamdisk;
  cmdline = "init=${toplevel}/init ${toString config.boot.kernelParams}";
in
{
  options.cairn.cvm = {
    enable = lib.mkEnableOption "the Cairn confidential-VM profile";
    tee = lib.mkOption {
      type = lib.types.enum [
        "sev-snp"
        "tdx"
        "simulated"
      ];
      description = "Which TEE the VM runs in (selects the agent's evidence provider).";
    };
    debug = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Serial console and login prompts, for development only: anyone with the host's serial
        port could log in. Production images leave this off (it also changes the measurement).
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    boot.initrd.systemd.enable = true;
    boot.initrd.availableKernelModules = [
      "virtio_pci"
      "virtio_blk"
      "virtio_scsi"
      "virtio_net"
      "nvme"
      "tpm_tis"
      "tpm_crb"
    ];
    # sev-guest and tdx-guest pull in the configfs-tsm core (tsm) as a dependency.
    boot.kernelModules = lib.optional (cfg.tee == "sev-snp") "sev-guest" ++ lib.optional (cfg.tee == "tdx") "tdx-guest";
    boot.kernelParams =
      [
        "panic=1"
        "oops=panic"
        "lockdown=integrity"
      ]
      ++ lib.optionals cfg.debug [
        "console=ttyS0,115200"
        "systemd.log_level=info"
      ];

    # The kernel is booted directly by the firmware (measured), never by a boot loader.
    boot.loader.grub.enable = false;

    # No interactive logins in production: no serial or virtual-console getty.
    systemd.services."serial-getty@ttyS0".enable = cfg.debug;
    systemd.services."getty@tty1".enable = cfg.debug;
    services.getty.autologinUser = lib.mkIf (!cfg.debug) (lib.mkForce null);
    users.mutableUsers = false;

    services.cairn-agent.tee.provider = lib.mkDefault (
      {
        sev-snp = "auto";
        tdx = "configfs-tsm";
        simulated = "simulated-snp";
      }
      .${cfg.tee}
    );

    # Direct kernel boot bundle: exactly what the VMM is given, and what reference values use.
    system.build.cairnBoot = pkgs.runCommand "cairn-boot-${config.system.name}" { } ''
      mkdir -p $out
      ln -s ${config.system.build.kernel}/${config.system.boot.loader.kernelFile} $out/kernel
      ln -s ${initrd}/initrd $out/initrd
      printf '%s' ${lib.escapeShellArg cmdline} > $out/cmdline
    '';
  };
}
