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
# With `provider = "simulated"`: no driver; the agent signs SPDM reports with a chain it
# generated (never trusted unless a verifier names its root with --trust-simulated-root).
{
  config,
  lib,
  ...
}:
let
  cfg = config.cairn.gpu;
  driver = config.hardware.nvidia.package;
  nvml = cfg.provider == "nvml";
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
    ]
  );
}
