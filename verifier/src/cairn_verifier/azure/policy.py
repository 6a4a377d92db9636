"""The ``[azure]`` section of a Cairn policy: what the paravisor's ``vm-configuration`` and the
runtime data of an Azure confidential VM must say. Defaults fail closed (docs/policy.md)."""

from __future__ import annotations

from ..policy import Flag, Hex64, PolicyModel, Text


class AzurePolicy(PolicyModel):
    """What a relying party accepts from an Azure confidential VM's HCL runtime data."""

    require_secure_boot: Flag = True
    """``secure-boot`` must be true (``azure-secure-boot``, exit 4)."""
    require_tpm_enabled: Flag = True
    """``tpm-enabled`` must be true (``azure-tpm-enabled``, exit 4)."""
    allow_console: Flag = False
    """Accept a VM whose Azure serial console is attached (``console-enabled`` or
    ``interactive-console-enabled`` true; ``azure-console``, exit 4)."""
    tpm_persisted: Flag | None = None
    """Required value of ``tpm-persisted`` (``azure-tpm-persisted``, exit 4); unset: not checked."""
    vm_unique_ids: tuple[Text, ...] = ()
    """Accepted ``vmUniqueId`` values, any case (``azure-vm-id``, exit 4); empty: not checked."""
    user_data: Hex64 | None = None
    """Expected ``user-data`` (64 bytes; ``azure-user-data``, exit 1); unset: not checked."""
