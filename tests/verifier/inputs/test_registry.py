"""The registry, the detectors, docs/inputs.md and the example files agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn_verifier.errors import MalformedInputError
from cairn_verifier.inputs import FORMATS, read_snp_evidence, read_tdx_evidence
from cairn_verifier.inputs.formats import BY_NAME, Role, known
from cairn_verifier.inputs.gpu import read_gpu_evidence

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "inputs.md").read_text(encoding="utf-8")

#: What each refused format's example is named as (a phrase of the error message).
REFUSED_PHRASE = {
    "nvidia-gpu-evidence": "not CPU TEE evidence",
    "nvidia-attestation-result": "not CPU TEE evidence",
    "tdx-collateral": "Intel TDX collateral",
    "x509": "X.509 certificate",
    "oak-endorsements-protobuf": "Oak endorsements protobuf",
}


def test_names_are_unique_and_known():
    assert len(BY_NAME) == len(FORMATS)
    with pytest.raises(KeyError):
        known("no-such-format")


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_format_is_documented_with_its_example(fmt):
    assert f"| `{fmt.name}` |" in DOC
    if fmt.example is not None:
        assert (REPO / fmt.example).is_file()
        assert f"`{fmt.example}`" in DOC


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.example], ids=lambda f: f.name)
def test_every_example_is_read_as_its_format(fmt):
    data = (REPO / fmt.example).read_bytes()
    if fmt.role is Role.REFUSED:
        for read in (read_snp_evidence, read_tdx_evidence):
            with pytest.raises(MalformedInputError) as info:
                read(data)
            assert REFUSED_PHRASE[fmt.name] in info.value.message
        return
    found: list[tuple[str, ...]] = []
    readers = (("snp", read_snp_evidence), ("tdx", read_tdx_evidence), ("gpu", read_gpu_evidence))
    for platform, read in readers:
        if platform in fmt.platforms:
            try:
                found.append(read(data).formats)
            except MalformedInputError:
                continue
    assert len(found) == 1 and fmt.name in found[0]
