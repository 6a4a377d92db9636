"""Channel binding v1 (docs/spec/channel-binding-v1.md): the vectors, recomputed from the spec's
text with hashlib alone, and the checks on the inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cairn_verifier.binding.channel import CHANNEL_DOMAIN, bind_channel, channel_digest
from cairn_verifier.errors import MalformedInputError

SPEC = Path(__file__).resolve().parents[3] / "docs" / "spec"
VECTORS = json.loads((SPEC / "vectors" / "channel-binding-v1.json").read_text())
REPORT_DATA_V1 = {
    v["name"]: v
    for v in json.loads((SPEC / "vectors" / "report-data-v1.json").read_text())["vectors"]
}


def test_the_domain_is_the_tag_padded_to_32_bytes() -> None:
    assert VECTORS["domain"] == b"cairn/channel-key/v1".hex() + "00" * 12
    assert CHANNEL_DOMAIN.hex() == VECTORS["domain"]


@pytest.mark.parametrize("case", VECTORS["vectors"], ids=lambda c: c["name"])
def test_vectors(case: dict[str, str]) -> None:
    key = bytes.fromhex(case["public_key"])
    spelled_out = hashlib.sha256(bytes.fromhex(VECTORS["domain"]) + key).digest()
    assert case["channel_digest"] == spelled_out.hex() == channel_digest(key).hex()
    claims_half = REPORT_DATA_V1[case["report_data_v1_vector"]]["claims_digest"]
    assert case["report_data"] == claims_half + spelled_out.hex()
    v1 = bytes.fromhex(REPORT_DATA_V1[case["report_data_v1_vector"]]["report_data"])
    assert bind_channel(v1, key).hex() == case["report_data"]


def test_the_rfc7748_keys_are_the_published_ones() -> None:
    by_name = {c["name"]: c for c in VECTORS["vectors"]}
    assert by_name["rfc7748-alice-all-zero-claims"]["public_key"] == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )
    assert by_name["rfc7748-bob-realistic-snp"]["public_key"] == (
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    )


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33), bytes(32), "00" * 32])
def test_keys_that_are_not_x25519_public_keys_are_refused(key: object) -> None:
    with pytest.raises(MalformedInputError):
        channel_digest(key)  # type: ignore[arg-type]


def test_only_an_unbound_v1_report_data_is_bound() -> None:
    key = bytes(range(1, 33))
    bound = bind_channel(bytes(64), key)
    with pytest.raises(MalformedInputError, match="reserved second half is zero"):
        bind_channel(bound, key)
    with pytest.raises(MalformedInputError):
        bind_channel(bytes(63), key)
