"""GPU evidence providers: NVIDIA GPUs and NVSwitches in confidential-computing mode (NVML) and a
simulated GPU for CI (docs/agent.md, "GPUs"; docs/spec/gpu-evidence-v1.md)."""
