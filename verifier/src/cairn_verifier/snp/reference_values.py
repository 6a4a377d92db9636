"""SEV-SNP reference values: the launch measurements an image is expected to produce.

A reference-values file is JSON written by ``cairn reference-values`` (and by the Nix package
``reference-values``, which runs it over the exact firmware, kernel, initrd and command line of
an image)::

    {"format": "cairn-reference-values", "version": 1,
     "generator": "sev-snp-measure 0.0.13",
     "snp": {"measurements": ["<96 hex digits>", ...]},
     "inputs": [{"ovmf": "<sha256>", "kernel": "<sha256>|null", "initrd": "<sha256>|null",
                 "cmdline": "...|null", "vcpus": 2, "vcpu_type": "EPYC-v4|null",
                 "guest_features": "0x1", "vmm_type": "QEMU", "measurement": "<96 hex digits>"}]}

``snp.measurements`` is what the verifier uses; ``inputs`` records which inputs produced each
measurement so a mismatch can be traced back. :func:`merge_into` adds the measurements to a
policy: the result accepts the policy's own measurements **and** the reference ones (a union;
neither list overrides the other).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from ..documents import parse_json
from ..errors import MalformedInputError
from ..input_files import MAX_DOCUMENT_BYTES, read_input_file
from ..output_files import write_output_file
from ..policy import Hex32, Hex48, Text, validation_message
from .policy import SnpPolicy

FORMAT: Final = "cairn-reference-values"
VERSION: Final = 1
COMPONENT = "reference values"
MAX_FILE_BYTES = MAX_DOCUMENT_BYTES
MEASUREMENT_BYTES = 48
VmmType = Literal["QEMU", "ec2", "gce"]
"""Hypervisor flavours sev-snp-measure models (their initial vCPU state differs)."""


def _guest_features(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a hex string such as '0x1'")
    if isinstance(value, str):
        text = value.strip().lower()
        if not text.startswith("0x") or len(text) == 2:
            raise ValueError(f"expected a hex string such as '0x1', got {value!r}")
        try:
            value = int(text, 16)
        except ValueError as exc:
            raise ValueError(f"not valid hex: {value!r}") from exc
    if not isinstance(value, int):
        raise ValueError("expected a hex string such as '0x1'")
    if not 0 <= value < 1 << 64:
        raise ValueError("guest features are a 64-bit value")
    return value


GuestFeatures = Annotated[
    int,
    BeforeValidator(_guest_features),
    PlainSerializer(lambda v: f"0x{v:x}", return_type=str),
]
"""SEV_FEATURES of the guest's VMSAs, written as hex (``"0x1"`` = SNP active)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeasuredInputs(_Model):
    """One computed measurement and exactly what it was computed from."""

    ovmf: Hex32
    """SHA-256 of the firmware image."""
    kernel: Hex32 | None
    """SHA-256 of the kernel; null = no direct boot (the firmware boots from disk)."""
    initrd: Hex32 | None
    cmdline: Text | None
    vcpus: int = Field(strict=True, ge=1)
    vcpu_type: Text | None
    """QEMU CPU model (e.g. EPYC-v4); null where the VMM fixes the CPU signature (ec2, gce)."""
    guest_features: GuestFeatures
    vmm_type: VmmType
    measurement: Hex48


class SnpReferenceValues(_Model):
    measurements: tuple[Hex48, ...] = Field(min_length=1)


class ReferenceValues(_Model):
    """A reference-values document (see the module docstring)."""

    format: Literal["cairn-reference-values"] = FORMAT
    version: Literal[1] = VERSION
    generator: Text | None = None
    """Tool and version that computed the measurements, e.g. ``sev-snp-measure 0.0.13``."""
    snp: SnpReferenceValues
    inputs: tuple[MeasuredInputs, ...] = ()

    @model_validator(mode="after")
    def _inputs_listed(self) -> ReferenceValues:
        listed = set(self.snp.measurements)
        for index, entry in enumerate(self.inputs):
            if entry.measurement not in listed:
                raise ValueError(
                    f"inputs[{index}].measurement {entry.measurement.hex()[:16]}… is not in "
                    "snp.measurements"
                )
        return self

    @classmethod
    def from_inputs(
        cls, inputs: Iterable[MeasuredInputs], *, generator: str | None = None
    ) -> ReferenceValues:
        """Build a document whose measurements are the distinct ones of ``inputs``, in order."""
        entries = tuple(inputs)
        measurements = tuple(dict.fromkeys(e.measurement for e in entries))
        return cls(
            generator=generator,
            snp=SnpReferenceValues(measurements=measurements),
            inputs=entries,
        )

    @property
    def measurements(self) -> tuple[bytes, ...]:
        return self.snp.measurements

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


def parse_reference_values(text: str | bytes, *, source: str = "the document") -> ReferenceValues:
    """Validate a reference-values document; :class:`MalformedInputError` on anything wrong."""
    hint = "pass the file `cairn reference-values` or `nix build .#reference-values` wrote"
    try:
        document = parse_json(text, source, component=COMPONENT)
    except MalformedInputError as exc:
        raise MalformedInputError(exc.message, component=COMPONENT, hint=hint) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise MalformedInputError(
            f'{source} is not a reference-values document (expected "format": "{FORMAT}")',
            component=COMPONENT,
            hint=hint,
        )
    if document.get("version") != VERSION or isinstance(document.get("version"), bool):
        raise MalformedInputError(
            f"{source} has reference-values version {document.get('version')!r:.20}; "
            f"this verifier reads version {VERSION}",
            component=COMPONENT,
            hint="regenerate the file with this version of cairn",
        )
    try:
        return ReferenceValues.model_validate(document)
    except ValidationError as exc:
        raise MalformedInputError(
            f"{source} is invalid:\n{validation_message(exc)}", component=COMPONENT
        ) from exc


def read_reference_values(path: Path) -> ReferenceValues:
    """Read (bounded) and validate the reference-values file at ``path``."""
    data = read_input_file(path, "reference-values file", limit=MAX_FILE_BYTES, component=COMPONENT)
    return parse_reference_values(data, source=str(path))


def load_reference_values(path: Path) -> tuple[bytes, ...]:
    """The accepted SEV-SNP launch measurements (48 bytes each) listed in the file at ``path``."""
    return read_reference_values(path).measurements


def write_reference_values(values: ReferenceValues, path: Path, *, overwrite: bool = False) -> None:
    """Write ``values`` to ``path`` atomically; refuse to replace a file unless ``overwrite``."""
    write_output_file(
        path,
        values.to_json().encode(),
        force=overwrite,
        what="reference values",
        component=COMPONENT,
    )


def merge_into(policy: SnpPolicy, measurements: Iterable[bytes]) -> SnpPolicy:
    """``policy`` accepting its own measurements plus ``measurements`` (union, order kept).

    Neither list wins over the other: a report passes the ``measurement`` check when its
    MEASUREMENT is in either. A policy with no measurements of its own therefore accepts
    exactly the reference values.
    """
    extra = tuple(measurements)
    for value in extra:
        if not isinstance(value, bytes) or len(value) != MEASUREMENT_BYTES:
            raise MalformedInputError(
                f"a reference measurement must be {MEASUREMENT_BYTES} bytes", component=COMPONENT
            )
    merged = tuple(dict.fromkeys((*policy.measurements, *extra)))
    return policy.model_copy(update={"measurements": merged})
