"""The agent's hardware errors share one base: what /v1/evidence and the self-check catch."""

from __future__ import annotations

import pytest

from cairn_agent.errors import HardwareError
from cairn_agent.tee.base import ProviderError
from cairn_agent.tpm import TpmCommandError, TpmError, TpmUnavailable


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("device busy", hint="retry", retryable=True),
        TpmError("TPM gone", hint="check the TCTI"),
        TpmUnavailable("no TPM at device:/dev/tpmrm0", hint="load the module", tcti="device:"),
        TpmCommandError("Quote", 0x101, "TPM_RC_FAILURE", hint="reset the TPM"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_tee_and_tpm_errors_are_hardware_errors(error: HardwareError) -> None:
    assert isinstance(error, HardwareError)
    assert error.message == str(error)
    assert error.hint is not None
    with pytest.raises(HardwareError):
        raise error


def test_a_provider_error_keeps_its_retry_flag() -> None:
    assert ProviderError("busy", retryable=True).retryable
    assert not ProviderError("gone").retryable
    assert ProviderError("gone").hint is None
