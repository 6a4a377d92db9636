"""The `cairn.gpu` NixOS module (nixos/modules/gpu.nix), evaluated with the stub lib
(tests/nix/eval/modules.nix): which agent settings and nixpkgs `hardware.nvidia` options it
defines for each provider. Not merged with nixpkgs (it cannot be fetched here): that the nixpkgs
options exist with these types is read from nixpkgs' source, not evaluated."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from nix_eval import EVAL_DIR, REPO_ROOT, evaluate_json, unwrap
from test_unit_lint import SERVICE_DIRECTIVES

from cairn_agent.config import GpuConfig

MODULE = REPO_ROOT / "nixos" / "modules" / "gpu.nix"


@pytest.fixture(scope="module")
def evaluated() -> dict[str, Any]:
    result: dict[str, Any] = evaluate_json(
        f"""
        let
          e = import {EVAL_DIR}/modules.nix {{ }};
          driver = e.drv "nvidia-x11-dc" {{ }} // {{ persistenced = e.drv "persistenced" {{ }}; }};
          run = settings: e.evalModule {{ module = {MODULE}; inherit settings; }};
          nvmlSettings = {{
            cairn.gpu.enable = true;
            hardware.nvidia.package = driver;
            boot.kernelPackages.nvidiaPackages.dc = driver;
          }};
          simulatedGpus = {{ enable = true; provider = "simulated"; }};
          payload = {{
            requiredBy = [ "inference.service" ];
            agentUrl = "http://127.0.0.1:9090";
          }};
          withPayload = {{ enable = true; cudaCheck = payload; }};
          noCheck = {{ enable = true; cudaCheck.enable = false; }};
          badTimeout = {{ enable = true; cudaCheck.timeout = 0; }};
          tooMany = {{ enable = true; simulatedCount = 9; }};
        in {{
          nvml = (run nvmlSettings).definitions;
          payload = (run (nvmlSettings // {{ cairn.gpu = withPayload; }})).definitions;
          noCheck = (run (nvmlSettings // {{ cairn.gpu = noCheck; }})).definitions;
          timeoutErrors = (run {{ cairn.gpu = badTimeout; }}).declaredTypeErrors;
          simulated = (run {{ cairn.gpu = simulatedGpus; }}).definitions;
          off = (run {{ }}).definitions;
          typeErrors = (run {{ cairn.gpu = tooMany; }}).declaredTypeErrors;
          providers = (run {{ }}).result.options.cairn.gpu.provider.type.functor.payload.values;
        }}
        """
    )
    return result


def test_nvml_uses_the_datacenter_driver_with_the_open_module(evaluated: dict[str, Any]) -> None:
    nvidia = evaluated["nvml"]["hardware"]["nvidia"]
    assert {key: unwrap(value) for key, value in nvidia.items() if key != "package"} == {
        "datacenter": {"enable": {"_priority": 1000, "_value": True}},
        "open": True,
        "nvidiaPersistenced": True,
    }
    assert nvidia["package"]["_priority"] == 1000  # mkDefault: a user's driver wins
    assert unwrap(nvidia["package"]).endswith("-nvidia-x11-dc")


def test_nvml_points_the_agent_at_the_drivers_library(evaluated: dict[str, Any]) -> None:
    gpu = evaluated["nvml"]["services"]["cairn-agent"]["gpu"]
    assert gpu["provider"] == "nvml" and gpu["setReadyState"] is True
    assert gpu["nvmlLibrary"].endswith("-nvidia-x11-dc/lib/libnvidia-ml.so.1")
    start = unwrap(
        evaluated["nvml"]["systemd"]["services"]["nvidia-persistenced"]["serviceConfig"][
            "ExecStart"
        ]
    )
    assert start.endswith("/bin/nvidia-persistenced --uvm-persistence-mode --verbose")


def test_simulated_installs_no_driver(evaluated: dict[str, Any]) -> None:
    assert "hardware" not in evaluated["simulated"] and "systemd" not in evaluated["simulated"]
    assert evaluated["simulated"]["services"]["cairn-agent"]["gpu"]["provider"] == "simulated"
    assert evaluated["off"] == {"_dropped": True}


def test_options_are_values_the_agent_accepts(evaluated: dict[str, Any]) -> None:
    agent = set(get_args(GpuConfig.model_fields["provider"].annotation))
    assert set(evaluated["providers"]) <= agent - {"none"}
    assert evaluated["typeErrors"] == ["cairn.gpu.simulatedCount: 9 is not a intBetween"]


def test_the_cuda_check_runs_after_the_agent_and_before_the_payload(
    evaluated: dict[str, Any],
) -> None:
    unit = evaluated["payload"]["systemd"]["services"]["cairn-gpu-check"]
    assert (unit["after"], unit["requires"]) == (["cairn-agent.service"], ["cairn-agent.service"])
    assert unit["requiredBy"] == unit["before"] == ["inference.service"]
    config = unit["serviceConfig"]
    assert (config["Type"], config["RemainAfterExit"]) == ("oneshot", True)
    assert set(config) <= SERVICE_DIRECTIVES
    command = config["ExecStart"].split(" ")
    assert command[0].endswith("-cairn-guest-scripts-0.1.0/bin/cairn-gpu-check")
    assert command[1:6] == ["--agent", "http://127.0.0.1:9090", "--timeout", "300", "--"]
    assert command[6].endswith("-cairn-cuda-sample-0.1.0/bin/cairn-cuda-sample")
    assert config["TimeoutStartSec"] > 300  # the script's own timeout fires first, with its reason
    assert config["Environment"].endswith("-nvidia-x11-dc/lib")


def test_the_cuda_check_only_with_real_gpus_and_when_enabled(evaluated: dict[str, Any]) -> None:
    assert "cairn-gpu-check" in evaluated["nvml"]["systemd"]["services"]
    assert "cairn-gpu-check" not in evaluated["noCheck"]["systemd"]["services"]
    assert evaluated["nvml"]["systemd"]["services"]["cairn-gpu-check"]["requiredBy"] == []
    assert "systemd" not in evaluated["simulated"]  # no GPU, no CUDA: no check
    assert evaluated["timeoutErrors"] == ["cairn.gpu.cudaCheck.timeout: 0 is not a intBetween"]
