# NVIDIA GPUs in confidential-computing (CC) mode inside a Cairn VM, attested by the Cairn agent.
#
# NOT EVALUATED against nixpkgs: these machines cannot fetch nixpkgs, so this module is only
# parse-checked (tests/nix) and evaluated with the stub lib; the nixpkgs options it sets
# (hardware.nvidia.*, nixos/modules/hardware/video/nvidia.nix) were read from nixpkgs' source,
# not merged with it. Build it on a machine with nixpkgs before relying on it.
#
# With `provider = "nvml"` (real GPUs): NVIDIA's datacenter driver with the open kernel module
# (CC needs the open module, r535 or later), the persistence daemon in UVM persistence mode (as
# NVIDIA's CC deployment guide starts it in the guest), and the agent's NVML provider on the
# driver's libnvidia-ml. CC mode itself is set on the HOST (nvidia_gpu_tools.py --set-cc-mode=on)
# and is not in the GPUs' signed evidence: the agent reads it from NVML and refuses to attest GPUs
# outside CC mode. After its self-check verified the GPUs' evidence, the agent sets NVIDIA's "GPUs
# ready" state (`setReadyState`), so CUDA work starts only on attested GPUs. The driver is unfree:
# allow it (nixpkgs.config.allowUnfree or an allowUnfreePredicate naming nvidia-x11).
#
# With `cudaCheck.enable` (nvml only, the default): cairn-gpu-check.service runs after the
# agent and before the units in `cudaCheck.requiredBy` (the payload): scripts/guest/cairn-gpu-check
# waits for the agent's /healthz to report a passed self-check, then runs the CUDA sample
# (nixos/pkgs/cuda-sample.nix: cudaMemcpy plus a small kernel on every GPU); a failure of either
# keeps the payload from starting. NEVER RUN ON A GPU and the sample never compiled (no nvcc here):
# the script is tested against the real agent with a stand-in sample (tests/nix).
#
# With `provider = "simulated"`: no driver; the agent signs SPDM reports with a chain it
# generated (never trusted unless a verifier names its root with --trust-simulated-root).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.cairn.gpu;
  driver = config.hardware.nvidia.package;
  nvml = cfg.provider == "nvml";
  guestScripts = pkgs.callPackage ../pkgs/guest-scripts.nix { };
in
{
  options.cairn.gpu = {
    enable = lib.mkEnableOption "NVIDIA GPUs in confidential-computing mode, attested by the Cairn agent";
    provider = lib.mkOption {
      type = lib.types.enum [
        "nvml"
        "simulated"
      ];
      default = "nvml";
      description = "The agent's GPU provider: real GPUs through NVML, or simulated H100s.";
    };
    simulatedCount = lib.mkOption {
      type = lib.types.ints.between 1 8;
      default = 1;
      description = "`simulated`: how many GPUs the simulated node has.";
    };
    setReadyState = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "`nvml`: set NVIDIA's CC \"GPUs ready\" state once the agent verified the GPUs.";
    };
    cudaCheck = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "`nvml`: run the CUDA sample once the agent's self-check passed (cairn-gpu-check.service).";
      };
      package = lib.mkOption {
        type = lib.types.package;
        default = pkgs.callPackage ../pkgs/cuda-sample.nix { };
        defaultText = lib.literalExpression "pkgs.callPackage <cairn>/nixos/pkgs/cuda-sample.nix { }";
        description = "The CUDA sample (its main program exits non-zero when a GPU fails).";
      };
      agentUrl = lib.mkOption {
        type = lib.types.nonEmptyStr; # cairn-gpu-check refuses anything but an http(s) URL
        default = "http://127.0.0.1:8080";
        description = "Where the agent's /healthz answers (services.cairn-agent.listen).";
      };
      timeout = lib.mkOption {
        type = lib.types.ints.between 1 3600;
        default = 300;
        description = "Seconds to wait for the agent's self-check before failing.";
      };
      requiredBy = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ ];
        example = [ "my-inference.service" ];
        description = "Units (the payload) that start only after the CUDA check passed.";
      };
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        services.cairn-agent.gpu = {
          inherit (cfg) provider simulatedCount setReadyState;
        };
      }
      (lib.mkIf nvml {
        hardware.nvidia = {
          datacenter.enable = lib.mkDefault true;
          open = lib.mkDefault true;
          nvidiaPersistenced = lib.mkDefault true;
          package = lib.mkDefault config.boot.kernelPackages.nvidiaPackages.dc;
        };
        # NVIDIA's CC guide runs the persistence daemon with UVM persistence mode in the guest.
        systemd.services.nvidia-persistenced.serviceConfig.ExecStart = lib.mkForce "${driver.persistenced}/bin/nvidia-persistenced --uvm-persistence-mode --verbose";
        services.cairn-agent.gpu.nvmlLibrary = "${driver}/lib/libnvidia-ml.so.1";
      })
      (lib.mkIf (nvml && cfg.cudaCheck.enable) {
        systemd.services.cairn-gpu-check = {
          description = "Cairn: CUDA sample on the attested GPUs";
          wantedBy = [ "multi-user.target" ];
          inherit (cfg.cudaCheck) requiredBy;
          before = cfg.cudaCheck.requiredBy;
          after = [ "cairn-agent.service" ];
          requires = [ "cairn-agent.service" ];
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            TimeoutStartSec = cfg.cudaCheck.timeout + 120;
            ExecStart = lib.escapeShellArgs [
              "${guestScripts}/bin/cairn-gpu-check"
              "--agent"
              cfg.cudaCheck.agentUrl
              "--timeout"
              (toString cfg.cudaCheck.timeout)
              "--"
              (lib.getExe cfg.cudaCheck.package)
            ];
            # libcuda.so.1 from the running driver (besides the sample's driver RUNPATH).
            Environment = "LD_LIBRARY_PATH=${driver}/lib";
            DynamicUser = true;
            DevicePolicy = "closed";
            DeviceAllow = [
              "char-nvidia-frontend rw"
              "char-nvidia-uvm rw"
            ];
            NoNewPrivileges = true;
            ProtectSystem = "strict";
            ProtectHome = true;
            PrivateTmp = true;
            RestrictAddressFamilies = [
              "AF_INET"
              "AF_INET6"
              "AF_UNIX"
            ];
          };
        };
      })
    ]
  );
}
