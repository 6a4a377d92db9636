# The Cairn attestation agent as a hardened systemd service.
#
# The TOML file the agent reads is generated from `settings` below; its keys are exactly the
# agent's configuration keys (agent/src/cairn_agent/config.py, `config_keys()`), and
# tests/nix/test_module_keys.py checks that the block between the BEGIN/END markers lists them
# all, so the module and the agent cannot drift apart.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.cairn-agent;
  inherit (lib) mkOption types;

  stateDirectory = "/var/lib/cairn/agent";
  guestScripts = pkgs.callPackage ../pkgs/guest-scripts.nix { systemd = config.systemd.package; };
  simulated = lib.hasPrefix "simulated-" cfg.tee.provider;
  # The simulated chip's own directory, when it is not the agent's state directory.
  simulatedStateDirectory = lib.optional (
    simulated && cfg.tee.simulatedDirectory != stateDirectory
  ) (lib.removePrefix "/var/lib/" cfg.tee.simulatedDirectory);
  # The system this boot started: stage-2-init links /run/booted-system to the toplevel whose
  # init the kernel ran (the init= of the measured command line) before systemd starts, and,
  # unlike /run/current-system, nothing moves it when a configuration is activated later.
  # `cairn verify evidence --reference-values` checks the claim against the measured init=.
  systemPath = "/run/booted-system";

  manifest = pkgs.writeText "cairn-services.json" (
    builtins.toJSON {
      services = lib.mapAttrsToList (name: service: {
        inherit name;
        store_path = service.storePath;
        public_key_file = service.publicKeyFile;
      }) cfg.services;
    }
  );

  # BEGIN agent-config-keys (one key per line; checked against cairn_agent.config.config_keys())
  settings = {
    listen = {
      host = cfg.listen.host;
      port = cfg.listen.port;
    };
    tee = {
      provider = cfg.tee.provider;
      configfs_root = "/sys/kernel/config/tsm/report";
      sev_guest_device = "/dev/sev-guest";
      tdx_guest_device = "/dev/tdx_guest";
      vmpl = cfg.tee.vmpl;
      simulated_product = cfg.tee.simulatedProduct;
      simulated_directory = cfg.tee.simulatedDirectory;
      simulated_launch_inputs = cfg.tee.simulatedLaunchInputs;
      simulated_platform = cfg.tee.simulatedPlatform;
      azure_nv_index = 20971521;
      azure_ak_handle = 2164260867;
      azure_imds_url = "http://169.254.169.254";
      azure_thim = cfg.tee.azureThim;
      ccel = "/sys/firmware/acpi/tables/data/CCEL";
    };
    tpm = {
      enabled = cfg.tpm.enable;
      tcti = cfg.tpm.tcti;
      pcrs = cfg.tpm.pcrs;
      bank = cfg.tpm.bank;
      required = cfg.tpm.required;
      event_log = "/sys/kernel/security/tpm0/binary_bios_measurements";
    };
    services = {
      manifest = "${manifest}";
    };
    system = {
      path = systemPath;
    };
    state = {
      directory = stateDirectory;
    };
    limits = {
      max_queue = cfg.limits.maxQueue;
      request_timeout_seconds = cfg.limits.requestTimeoutSeconds;
      max_request_bytes = cfg.limits.maxRequestBytes;
      self_check = cfg.limits.selfCheck;
    };
    gpu = {
      provider = cfg.gpu.provider;
      nvml_library = cfg.gpu.nvmlLibrary;
      simulated_count = cfg.gpu.simulatedCount;
      set_ready_state = cfg.gpu.setReadyState;
      switches = cfg.gpu.switches;
      nscq_library = cfg.gpu.nscqLibrary;
      simulated_switch_count = cfg.gpu.simulatedSwitchCount;
    };
  };
  # END agent-config-keys

  configFile = (pkgs.formats.toml { }).generate "cairn-agent.toml" settings;

  # scripts/guest/cairn-export-root with this configuration, as the agent's user (the simulated
  # provider's keys live in the agent's state directory), through `cairn-agent export-root -o -`.
  exportRoot = pkgs.writeShellScriptBin "cairn-export-root" ''
    exec ${guestScripts}/bin/cairn-export-root --config ${configFile} --user cairn-agent \
      --agent ${lib.getExe cfg.package} "$@"
  '';

  # configfs-tsm creates each report entry owned by root with a write-only `inblob`: a
  # non-root agent needs CAP_DAC_OVERRIDE for it (and for nothing else).
  needsConfigfs = builtins.elem cfg.tee.provider [
    "auto"
    "configfs-tsm"
  ];
  # NVML talks to the driver through /dev/nvidiactl, /dev/nvidia<N> (nvidia-frontend) and
  # /dev/nvidia-uvm.
  nvml = cfg.gpu.provider == "nvml";
  # NSCQ opens /dev/nvidia-nvswitchctl and /dev/nvidia-nvswitch<N>, whose char major the
  # driver registers as `nvidia-nvswitch` in /proc/devices.
  nscq = cfg.gpu.switches == "nscq";
in
{
  options.services.cairn-agent = {
    enable = lib.mkEnableOption "the Cairn attestation agent";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../pkgs/cairn-agent.nix {
        cairn-verifier = pkgs.callPackage ../pkgs/cairn-verifier.nix { };
      };
      defaultText = lib.literalExpression "pkgs.callPackage <cairn>/nixos/pkgs/cairn-agent.nix { … }";
      description = "The cairn-agent package (built from this repository with the system's nixpkgs).";
    };

    listen = {
      host = mkOption {
        type = types.nonEmptyStr;
        default = "127.0.0.1";
        description = "Address the HTTP API listens on (0.0.0.0 to serve remote verifiers).";
      };
      port = mkOption {
        type = types.port;
        default = 8080;
        description = "TCP port of the HTTP API.";
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open `listen.port` in the firewall.";
    };

    tee = {
      provider = mkOption {
        type = types.enum [
          "auto"
          "configfs-tsm"
          "sev-guest"
          "tdx-guest"
          "azure-vtpm"
          "simulated-snp"
          "simulated-tdx"
          "simulated-azure"
        ];
        default = "auto";
        description = ''
          Evidence provider. `auto` tries configfs-tsm, /dev/sev-guest, /dev/tdx_guest and never
          picks a simulated one; `azure-vtpm` reads an Azure confidential VM's HCL report from
          its vTPM (NV index 0x01400001, AK 0x81000003; docs/cloud.md); `simulated-*` are for
          test VMs without TEE hardware (`simulated-azure` plays Azure's paravisor on the TPM).
        '';
      };
      vmpl = mkOption {
        type = types.ints.between 0 3;
        default = 0;
        description = "VMPL requested for SEV-SNP reports.";
      };
      simulatedProduct = mkOption {
        type = types.enum [
          "Milan"
          "Genoa"
        ];
        default = "Genoa";
        description = "SEV-SNP product line the simulated platform imitates (Turin is not simulated).";
      };
      simulatedDirectory = mkOption {
        type = types.strMatching "/var/lib/[^/].*";
        default = stateDirectory;
        description = "`simulated-snp`: where the simulated platform keeps its chip (identity, key-derivation secret, certificate chain), a state directory of the agent's user. It stands for hardware: with `cairn.luksTpm.keySource = \"snp-derived\"` it must be outside /var/lib/cairn, which its derived key opens.";
      };
      simulatedLaunchInputs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "/sys/class/dmi/id/product_version" ];
        description = "`simulated-snp`: files the simulated launch measurement covers (the host's launch choices, as SEV-SNP's measured direct boot covers the kernel command line); a change changes the measurement and every key derived from it.";
      };
      simulatedPlatform = mkOption {
        type = types.enum [
          "sev-snp"
          "tdx"
        ];
        default = "sev-snp";
        description = "`simulated-azure`: the hardware report the simulated paravisor's HCL report holds.";
      };
      azureThim = mkOption {
        type = types.bool;
        default = true;
        description = "`azure-vtpm` on SEV-SNP: send the VCEK chain from Azure's THIM cache with the evidence.";
      };
    };

    tpm = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Quote the TPM alongside the TEE report.";
      };
      tcti = mkOption {
        # A TCTI the agent knows; the agent checks the rest of the syntax when it loads its
        # configuration (docs/agent.md, tpm.tcti).
        type = types.addCheck types.nonEmptyStr (
          t: builtins.match "(device|swtpm|mssim|tabrmd)(:[^[:space:]]+)?" t != null
        );
        default = "device:/dev/tpmrm0";
        description = "TPM TCTI string (the kernel resource manager by default): device[:PATH], swtpm or mssim[:host=H,port=P], swtpm:path=SOCKET or tabrmd[:bus_name=N,bus_type=T].";
      };
      pcrs = mkOption {
        # The agent refuses an empty selection and a PCR selected twice.
        type =
          types.addCheck (types.listOf (types.ints.between 0 23)) (
            pcrs: pcrs != [ ] && lib.allUnique pcrs
          )
          // {
            description = "non-empty list of distinct PCR indexes (0-23)";
          };
        default = [ 0 1 2 3 4 5 6 7 8 9 11 12 14 ];
        description = "PCRs included in every quote.";
      };
      bank = mkOption {
        type = types.enum [
          "sha1"
          "sha256"
          "sha384"
        ];
        default = "sha256";
        description = "PCR bank quoted.";
      };
      required = mkOption {
        type = types.bool;
        default = true;
        description = "Refuse to start without a TPM (false: serve TEE-only evidence).";
      };
    };

    services = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            storePath = mkOption {
              type = types.str;
              description = "Nix store path of the service's package (a leaf of the service tree).";
            };
            publicKeyFile = mkOption {
              type = types.str;
              description = "File holding the service's secp256k1 public key (SEC1 hex, PEM or raw).";
            };
          };
        }
      );
      default = { };
      description = "Services committed to by the evidence (name -> package and key file).";
    };

    hiddenPaths = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Paths made inaccessible to the agent (e.g. services' private key directories).";
    };

    limits = {
      maxQueue = mkOption {
        type = types.ints.between 1 10000;
        default = 16;
        description = "Evidence requests allowed to wait for the hardware before 429 is answered.";
      };
      requestTimeoutSeconds = mkOption {
        type =
          types.addCheck types.number (seconds: seconds > 0 && seconds <= 600)
          // {
            description = "number of seconds above 0, at most 600";
          };
        default = 30;
        description = "A hardware call taking longer is answered 503.";
      };
      maxRequestBytes = mkOption {
        type = types.ints.between 512 1048576;
        default = 8192;
        description = "Larger requests are refused (413).";
      };
      selfCheck = mkOption {
        type = types.bool;
        default = true;
        description = "Verify the agent's own first evidence at start-up and refuse to serve if it fails.";
      };
    };

    gpu = {
      provider = mkOption {
        type = types.enum [
          "none"
          "nvml"
          "simulated"
        ];
        default = "none";
        description = ''
          Where GPU evidence comes from (docs/agent.md, "GPUs"): `none`; `nvml`, NVIDIA GPUs in
          confidential-computing mode through NVML (set by `cairn.gpu`); `simulated`, simulated
          H100s for test VMs (their root: `cairn-agent export-root --gpu`).
        '';
      };
      nvmlLibrary = mkOption {
        type = types.nonEmptyStr;
        default = "libnvidia-ml.so.1";
        description = "`nvml`: the NVML library the agent loads (`cairn.gpu` sets the driver's).";
      };
      simulatedCount = mkOption {
        type = types.ints.between 1 8;
        default = 1;
        description = "`simulated`: how many GPUs the simulated node has.";
      };
      setReadyState = mkOption {
        type = types.bool;
        default = true;
        description = ''
          `nvml`: after the self-check verified the GPUs' evidence, set NVIDIA's CC "GPUs ready"
          state so that they accept work, as NVIDIA's local verifier does.
        '';
      };
      switches = mkOption {
        type = types.enum [
          "none"
          "nscq"
          "simulated"
        ];
        default = "none";
        description = ''
          Where NVSwitch evidence comes from, after the GPUs' (docs/agent.md, "GPUs"): `none`;
          `nscq`, NVIDIA's NSCQ library (with provider `nvml`); `simulated`, LS10 switches under
          the simulated GPUs' root (with provider `simulated`).
        '';
      };
      nscqLibrary = mkOption {
        type = types.nonEmptyStr;
        default = "libnvidia-nscq.so.2";
        description = ''
          `nscq`: the NSCQ library the agent loads. nixpkgs does not package NSCQ (NVIDIA ships
          it as the `libnvidia_nscq` redistributable, matching the driver version): give its
          store path, e.g. `"''${myNscq}/lib/libnvidia-nscq.so.2"`.
        '';
      };
      simulatedSwitchCount = mkOption {
        type = types.ints.between 1 8;
        default = 4;
        description = "switches = `simulated`: how many NVSwitches the simulated node has.";
      };
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = configFile;
      description = "The generated agent configuration (read-only; for inspection and tests).";
    };

    exportRoot = mkOption {
      type = types.package;
      readOnly = true;
      default = exportRoot;
      defaultText = lib.literalMD "`cairn-export-root` for this configuration";
      description = "`bin/cairn-export-root`: prints a simulated provider's root (PEM) on stdout.";
    };
  };

  config = lib.mkIf cfg.enable {
    users.groups.cairn-tee = { };
    users.groups.cairn-agent = { };
    users.users.cairn-agent = {
      isSystemUser = true;
      group = "cairn-agent";
      extraGroups = [ "cairn-tee" ];
      description = "Cairn attestation agent";
    };

    # Only members of cairn-tee (the agent) may ask the TEE or the TPM for reports and quotes.
    services.udev.extraRules = ''
      KERNEL=="sev-guest", GROUP="cairn-tee", MODE="0660"
      KERNEL=="tdx_guest", GROUP="cairn-tee", MODE="0660"
      SUBSYSTEM=="tpmrm", KERNEL=="tpmrm[0-9]*", GROUP="cairn-tee", MODE="0660"
      SUBSYSTEM=="tpm", KERNEL=="tpm[0-9]*", GROUP="root", MODE="0600"
    '';

    # Simulated providers only: `cairn-export-root` prints the locally generated root a verifier
    # must be told to trust.
    environment.systemPackages = lib.optional simulated cfg.exportRoot;

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.listen.port ];

    systemd.services.cairn-agent = {
      description = "Cairn attestation agent";
      wantedBy = [ "multi-user.target" ];
      after = [
        "network.target"
        "systemd-udev-settle.service"
      ]
      ++ lib.optional nvml "nvidia-persistenced.service";
      unitConfig.RequiresMountsFor = [ stateDirectory ];
      serviceConfig = {
        ExecStart = "${lib.getExe cfg.package} serve --config ${configFile}";
        User = "cairn-agent";
        Group = "cairn-agent";
        SupplementaryGroups = [ "cairn-tee" ];
        StateDirectory = [ "cairn/agent" ] ++ simulatedStateDirectory;
        StateDirectoryMode = "0700";
        Restart = "on-failure";
        RestartSec = 2;

        # Devices: only the TEE guest devices, the TPM resource manager, (NVML) the GPUs and
        # (NSCQ) the NVSwitches.
        DevicePolicy = "closed";
        DeviceAllow = [
          "/dev/sev-guest rw"
          "/dev/tdx_guest rw"
          "/dev/tpmrm0 rw"
        ]
        ++ lib.optionals nvml [
          "char-nvidia-frontend rw"
          "char-nvidia-uvm rw"
        ]
        ++ lib.optional nscq "char-nvidia-nvswitch rw";
        # configfs-tsm lives under /sys, which ProtectSystem=strict makes read-only.
        ReadWritePaths = lib.optional needsConfigfs "-/sys/kernel/config/tsm";
        InaccessiblePaths = map (path: "-${path}") cfg.hiddenPaths;
        CapabilityBoundingSet = if needsConfigfs then [ "CAP_DAC_OVERRIDE" ] else [ "" ];
        AmbientCapabilities = lib.optional needsConfigfs "CAP_DAC_OVERRIDE";

        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateUsers = !needsConfigfs;
        ProtectKernelTunables = !needsConfigfs;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged @resources"
        ];
        UMask = "0077";
      };
    };
  };
}
