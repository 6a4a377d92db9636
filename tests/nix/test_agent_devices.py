"""The devices the `cairn-agent` unit may open (nixos/modules/cairn-agent.nix, evaluated with the
stub lib): the TEE guest devices and the TPM resource manager always, the GPUs' character devices
with NVML, the NVSwitches' with NSCQ — nothing else under `DevicePolicy = "closed"`."""

from __future__ import annotations

from typing import Any

import pytest
from nix_eval import EVAL_DIR, REPO_ROOT, evaluate_json

MODULE = REPO_ROOT / "nixos" / "modules" / "cairn-agent.nix"
ALWAYS = ["/dev/sev-guest rw", "/dev/tdx_guest rw", "/dev/tpmrm0 rw"]
GPUS = ["char-nvidia-frontend rw", "char-nvidia-uvm rw"]


@pytest.fixture(scope="module")
def units() -> dict[str, Any]:
    result: dict[str, Any] = evaluate_json(
        f"""
        let
          e = import {EVAL_DIR}/modules.nix {{ }};
          unit = gpu: (e.evalModule {{
            module = {MODULE};
            settings.services.cairn-agent = {{ enable = true; inherit gpu; }};
          }}).definitions.systemd.services.cairn-agent.serviceConfig;
        in {{
          none = unit {{ }};
          nvml = unit {{ provider = "nvml"; }};
          nscq = unit {{ provider = "nvml"; switches = "nscq"; }};
          simulated = unit {{ provider = "simulated"; switches = "simulated"; }};
        }}
        """
    )
    return result


@pytest.mark.parametrize(
    ("case", "allowed"),
    [
        ("none", ALWAYS),
        ("nvml", ALWAYS + GPUS),
        ("nscq", [*ALWAYS, *GPUS, "char-nvidia-nvswitch rw"]),
        ("simulated", ALWAYS),
    ],
)
def test_the_unit_opens_only_the_devices_its_providers_need(
    units: dict[str, Any], case: str, allowed: list[str]
) -> None:
    assert units[case]["DevicePolicy"] == "closed"
    assert units[case]["DeviceAllow"] == allowed
