"""The `cairn.gpu` NixOS module (nixos/modules/gpu.nix), evaluated with the stub lib
(tests/nix/eval/modules.nix): which agent settings and nixpkgs `hardware.nvidia` options it
defines for each provider. Not merged with nixpkgs (it cannot be fetched here): that the nixpkgs
options exist with these types is read from nixpkgs' source, not evaluated."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from nix_eval import EVAL_DIR, REPO_ROOT, evaluate_json, unwrap

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
          tooMany = {{ enable = true; simulatedCount = 9; }};
        in {{
          nvml = (run nvmlSettings).definitions;
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
