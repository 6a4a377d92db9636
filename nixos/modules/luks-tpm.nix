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
#  * Keeping the key from the host needs a key only an attested guest can obtain: `keySource`
#    "snp-derived" (the AMD-SP's MSG_KEY_REQ, bound to the launch fields `snpDerived.fields`)
#    or "broker" (an attestation-gated `cairn serve`, which releases the key wrapped to a
#    channel key the guest bound into its evidence). Then `cairn-state-key` (cairn-agent
#    state-key) writes the key to a tmpfs file on every boot (the broker: retrying with
#    back-off), cairn-state-init seals or checks the volume with it, cryptsetup opens the volume
#    with it and `cairn-state-key-forget` deletes it. What each source protects against, and
#    how updates that change the measurement are handled: docs/trust-model.md, "State at rest".
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
  tpmSource = cfg.keySource == "tpm";
  keyDir = "/run/cairn-state-key";
  keyFile = "${keyDir}/key";
  secretsDir = "/run/cairn-secrets";
  agentCfg = config.services.cairn-agent;
  # A simulated SEV-SNP platform keeps its chip in a state directory of the agent's user; when
  # it is outside /var/lib/cairn (it must be: that is the volume its key opens), the key unit
  # creates it, as the agent's unit does.
  simulatedChip =
    let
      tee = agentCfg.tee or { };
      directory = tee.simulatedDirectory or "";
    in
    if (tee.provider or "") == "simulated-snp" && lib.hasPrefix "/var/lib/" directory
      && !(lib.hasPrefix "/var/lib/cairn/" directory)
    then
      lib.removePrefix "/var/lib/" directory
    else
      null;
  keyId =
    if cfg.keySource == "snp-derived" then
      "snp-derived root=${cfg.snpDerived.rootKey} fields=${builtins.concatStringsSep "+" cfg.snpDerived.fields} guest_svn=${toString cfg.snpDerived.guestSvn} tcb_version=${cfg.snpDerived.tcbVersion}"
    else
      "broker ${toString cfg.broker.url} resource=${cfg.broker.resource}";
  stateKeyArgs =
    [
      "${lib.getExe agentCfg.package}"
      "state-key"
      "--config"
      "${agentCfg.configFile}"
      "--source"
      cfg.keySource
      "-o"
      keyFile
    ]
    ++ (
      if cfg.keySource == "snp-derived" then
        [
          "--fields"
          (builtins.concatStringsSep "," cfg.snpDerived.fields)
          "--root-key"
          cfg.snpDerived.rootKey
          "--guest-svn"
          (toString cfg.snpDerived.guestSvn)
          "--tcb-version"
          cfg.snpDerived.tcbVersion
        ]
      else
        [
          "--broker"
          (toString cfg.broker.url)
          "--resource"
          cfg.broker.resource
          "--attempts"
          (toString cfg.broker.attempts)
        ]
        ++ lib.optionals (cfg.broker.caFile != null) [
          "--ca-file"
          (toString cfg.broker.caFile)
        ]
        ++ builtins.concatMap (name: [
          "--secret"
          "${name}=${secretsDir}/${name}"
        ]) cfg.broker.secrets
    );
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
      description = "PCRs (sha256 bank) the volume key is sealed to (keySource tpm); see the module header for what they are worth.";
    };
    keySource = lib.mkOption {
      type = lib.types.enum [
        "tpm"
        "snp-derived"
        "broker"
      ];
      default = "tpm";
      description = "Where the volume key comes from: a random key sealed to the (host's) TPM, a key the AMD-SP derives for this guest (snp-derived), or the attestation-gated key broker `cairn serve` (broker). The last two need the cairn-agent module (its package and configuration).";
    };
    snpDerived = {
      fields = lib.mkOption {
        type = lib.types.listOf (
          lib.types.enum [
            "guest-policy"
            "image-id"
            "family-id"
            "measurement"
            "guest-svn"
            "tcb-version"
          ]
        );
        default = [
          "measurement"
          "guest-policy"
        ];
        description = "Launch fields the derived key is bound to. With measurement, an update changes the key (docs/trust-model.md: bind family-id, image-id and guest-svn under an ID block, or use the broker).";
      };
      rootKey = lib.mkOption {
        type = lib.types.enum [
          "vcek"
          "vmrk"
        ];
        default = "vcek";
        description = "The AMD-SP root key: the chip's VCEK secret, or the VM root key of a migration agent.";
      };
      guestSvn = lib.mkOption {
        type = lib.types.ints.between 0 4294967295;
        default = 0;
        description = "Guest SVN mixed into the key (with guest-svn); at most the SVN of the ID block the guest was launched with.";
      };
      tcbVersion = lib.mkOption {
        type = lib.types.str;
        default = "0";
        description = "TCB version (u64, decimal or 0x…) mixed into the key (with tcb-version); at most the committed TCB.";
      };
    };
    broker = {
      url = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "https://broker.example:8443";
        description = "The key broker (`cairn serve`) the state key is fetched from (keySource broker).";
      };
      caFile = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = null;
        description = "TLS root the broker's certificate must chain to (null: the system's roots).";
      };
      resource = lib.mkOption {
        type = lib.types.str;
        default = "state-key";
        description = "The broker resource holding the state key.";
      };
      secrets = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ ];
        description = "Further resources (service secrets) fetched in the same attestation, each written to /run/cairn-secrets/NAME.";
      };
      attempts = lib.mkOption {
        type = lib.types.ints.between 0 1000;
        default = 8;
        description = "Rounds with exponential back-off (1 s up to 60 s) before the unit fails; systemd restarts it every 30 s.";
      };
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
        {
          assertion = tpmSource || options ? services.cairn-agent;
          message = "cairn.luksTpm.keySource = \"${cfg.keySource}\" needs the cairn-agent module (cairn-agent state-key).";
        }
        {
          assertion = cfg.keySource != "broker" || cfg.broker.url != null;
          message = "cairn.luksTpm.keySource = \"broker\" needs cairn.luksTpm.broker.url.";
        }
        {
          assertion = cfg.keySource != "snp-derived" || cfg.snpDerived.fields != [ ];
          message = "cairn.luksTpm.snpDerived.fields must not be empty: a key bound to no launch field is the same for every guest on the chip, the host's own included.";
        }
      ];

      security.tpm2.enable = tpmSource;
      environment.systemPackages = [ pkgs.cryptsetup ];

      environment.etc.crypttab.text =
        if tpmSource then
          ''
            ${mapperName} ${cfg.device} - tpm2-device=auto,tpm2-measure-pcr=yes,headless=true,nofail
          ''
        else
          ''
            ${mapperName} ${cfg.device} ${keyFile} luks,headless=true,nofail
          '';

      systemd.services.cairn-state-init = {
        description = "Create or check the TPM-sealed Cairn state volume";
        # The cryptsetup unit (made by systemd-cryptsetup-generator from crypttab) requires this
        # one: a refused or unsealed volume is never opened.
        requiredBy = [ cryptsetupUnit ];
        before = [ cryptsetupUnit ];
        requires = [
          deviceUnit
        ]
        ++ (if tpmSource then [ "dev-tpmrm0.device" ] else [ "cairn-state-key.service" ]);
        after = [
          deviceUnit
        ]
        ++ (
          if tpmSource then
            [
              "dev-tpmrm0.device"
              "tpm2.target"
            ]
          else
            [ "cairn-state-key.service" ]
        );
        unitConfig.DefaultDependencies = false;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs (
            if tpmSource then
              [
                "${guestScripts}/bin/cairn-state-init"
                "--device"
                cfg.device
                "--pcrs"
                pcrList
                "--tpm2-device"
                "auto"
              ]
            else
              [
                "${guestScripts}/bin/cairn-state-init"
                "--device"
                cfg.device
                "--key-source"
                cfg.keySource
                "--key-file"
                keyFile
                "--key-id"
                keyId
              ]
          );
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

      # Every boot: the key from the AMD-SP or the broker, on a root-only tmpfs directory, kept
      # until cryptsetup has opened the volume (RuntimeDirectoryPreserve), then deleted.
      systemd.services.cairn-state-key = lib.mkIf (!tpmSource) {
        description = "Obtain the Cairn state volume key (${cfg.keySource})";
        requiredBy = [ "cairn-state-init.service" ];
        before = [ "cairn-state-init.service" ];
        wants = lib.optionals (cfg.keySource == "broker") [ "network-online.target" ];
        after = lib.optionals (cfg.keySource == "broker") [ "network-online.target" ];
        unitConfig.DefaultDependencies = false;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs stateKeyArgs;
          RuntimeDirectory = lib.removePrefix "/run/" keyDir + lib.optionalString (cfg.broker.secrets != [ ]) " ${lib.removePrefix "/run/" secretsDir}";
          RuntimeDirectoryMode = "0700";
          RuntimeDirectoryPreserve = "yes";
          UMask = "0077";
        }
        # The AMD-SP is asked with the agent's own rights (group cairn-tee owns /dev/sev-guest),
        # not root's; a simulated platform's chip is the agent's (its own state directory).
        // lib.optionalAttrs (cfg.keySource == "snp-derived") {
          User = "cairn-agent";
          Group = "cairn-agent";
          SupplementaryGroups = [ "cairn-tee" ];
        }
        // lib.optionalAttrs (cfg.keySource == "snp-derived" && simulatedChip != null) {
          StateDirectory = simulatedChip;
          StateDirectoryMode = "0700";
        }
        // lib.optionalAttrs (cfg.keySource == "broker") {
          Restart = "on-failure";
          RestartSec = "30s";
        };
      };
      systemd.services.cairn-state-key-forget = lib.mkIf (!tpmSource) {
        description = "Delete the Cairn state volume key once the volume is open";
        wantedBy = [ cryptsetupUnit ];
        after = [ cryptsetupUnit ];
        unitConfig.DefaultDependencies = false;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs [
            "${pkgs.coreutils}/bin/rm"
            "-f"
            keyFile
          ];
        };
      };
    }
    // lib.optionalAttrs inVm {
      virtualisation.fileSystems."/var/lib/cairn" = stateFileSystem;
    }
  );
}
