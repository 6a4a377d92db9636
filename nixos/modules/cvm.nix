# Confidential-VM profile: systemd initrd, the TEE guest drivers, no way to log in in production,
# no Nix daemon, and a direct-kernel-boot bundle whose command line pins the NixOS system
# (init=<toplevel>/init).
#
# On SEV-SNP the AmdSev OVMF hashes kernel, initrd and command line into the launch measurement
# (the SEV kernel-hashes table); on TDX the TD firmware measures them into RTMRs. Because the
# command line names the toplevel store path, the measurement pins the whole NixOS system, and
# `cairn verify evidence --reference-values` checks the agent's system claim against that init=.
{
  config,
  options,
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
  hasAgent = options ? services.cairn-agent;

  # Every unit that can put a login prompt on a console. The templates are upstream units in
  # NixOS (nixos/modules/system/boot/systemd.nix, upstreamSystemUnits); `enable = false` on an
  # upstream unit makes it a link to /dev/null (nixos/lib/systemd-lib.nix, makeUnit and
  # generateUnits), which masks the template and with it every instance: systemd-getty-generator's
  # serial-getty@<console>, the getty.target.wants/autovt@tty1 link that generateUnits always
  # creates, and the autovt@ttyN logind spawns on a VT switch. The tty1 instances are masked too
  # (belt and braces). Only masks are written here: defining an instance with enable = true would
  # write a whole unit that shadows the template (nixpkgs issue 429775).
  consoleUnits = [
    "getty@"
    "autovt@"
    "serial-getty@"
    "container-getty@"
    "console-getty"
    "getty@tty1"
    "autovt@tty1"
  ];
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

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
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
        boot.kernelModules =
          lib.optional (cfg.tee == "sev-snp") "sev-guest" ++ lib.optional (cfg.tee == "tdx") "tdx-guest";
        # No `lockdown=`: the NixOS kernel is built without SECURITY_LOCKDOWN_LSM, which depends on
        # MODULE_SIG when modules are enabled, and nixpkgs leaves MODULE_SIG off because it bakes a
        # random key into each build (pkgs/os-specific/linux/kernel/common-config.nix, security
        # group). A signed kernel would not be reproducible, and reference values must be.
        boot.kernelParams = [
          "panic=1"
          "oops=panic"
        ]
        ++ lib.optionals cfg.debug [
          "console=ttyS0,115200"
          "systemd.log_level=info"
        ];
        # kexec disabled and no hibernation (nixos/modules/security/misc.nix; adds `nohibernate`).
        security.protectKernelImage = true;

        # The kernel is booted directly by the firmware (measured), never by a boot loader.
        boot.loader.grub.enable = false;

        # The booted system cannot be replaced from inside: no Nix daemon or tools, no
        # switch-to-configuration (nixos/modules/system/activation/switchable-system.nix), so
        # /run/current-system stays /run/booted-system. Root can still re-point either link; in
        # production nobody can log in as root, and the verifier checks the claim against the
        # measured init= instead of trusting the link.
        nix.enable = lib.mkDefault false;
        system.switch.enable = lib.mkDefault false;

        # Accounts are exactly what this configuration declares.
        users.mutableUsers = false;

        # Direct kernel boot bundle: exactly what the VMM is given, and what reference values use.
        system.build.cairnBoot = pkgs.runCommand "cairn-boot-${config.system.name}" { } ''
          mkdir -p $out
          ln -s ${config.system.build.kernel}/${config.system.boot.loader.kernelFile} $out/kernel
          ln -s ${initrd}/initrd $out/initrd
          printf '%s' ${lib.escapeShellArg cmdline} > $out/cmdline
        '';
      }

      (lib.mkIf (!cfg.debug) {
        # Production: nobody logs in, on any console. users-groups.nix asserts that root or a
        # wheel user has a password or key when mutableUsers is false
        # (nixos/modules/config/users-groups.nix, "Neither the root account nor any wheel user
        # has a password or SSH authorized key"); having none is the point here.
        users.allowNoPasswordLogin = true;
        systemd.services = lib.genAttrs consoleUnits (_: {
          enable = false;
        });
        # No sulogin shell on the console when a mount fails (nofail mounts continue instead).
        systemd.enableEmergencyMode = false;
        # Once booted, no further kernel modules (nixos/modules/security/lock-kernel-modules.nix):
        # the next best thing to lockdown without module signing.
        security.lockKernelModules = true;
      })

      (lib.optionalAttrs hasAgent {
        services.cairn-agent.tee.provider = lib.mkDefault (
          {
            sev-snp = "auto";
            tdx = "configfs-tsm";
            simulated = "simulated-snp";
          }
          .${cfg.tee}
        );
      })
    ]
  );
}
