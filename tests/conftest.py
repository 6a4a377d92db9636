"""Shared fixtures: where the real test vectors live."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import settings

from cairn_verifier.snp.cert_table import CertRole

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real-hardware vectors ship in the repository (tests/vectors/README.md); CAIRN_TESTDATA overrides.
TESTDATA = Path(os.environ.get("CAIRN_TESTDATA") or REPO_ROOT / "tests" / "vectors")


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Root of the real-hardware vectors (``tests/vectors`` unless ``CAIRN_TESTDATA`` is set)."""
    if not TESTDATA.is_dir():
        pytest.fail(f"no test vectors at {TESTDATA} (CAIRN_TESTDATA: a copy of tests/vectors)")
    return TESTDATA


@pytest.fixture(scope="session")
def milan_report(testdata: Path) -> bytes:
    """A real Milan attestation report (go-sev-guest's ``attestation.bin``)."""
    return (testdata / "snp" / "go-sev-guest" / "attestation.bin").read_bytes()


@pytest.fixture(scope="session")
def milan_chain(testdata: Path) -> dict[CertRole, bytes]:
    """The real Milan VCEK, ASK and ARK of go-sev-guest's vectors, DER, by role."""
    snp = testdata / "snp" / "go-sev-guest"
    ask, ark = x509.load_pem_x509_certificates((snp / "ask_ark_milan.pem").read_bytes())
    return {
        CertRole.VCEK: (snp / "vcek.testcer").read_bytes(),
        CertRole.ASK: ask.public_bytes(Encoding.DER),
        CertRole.ARK: ark.public_bytes(Encoding.DER),
    }


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the tests' collateral cache out of the user's home directory."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


# CI runs property tests with a fixed derandomised profile so a run is reproducible; locally
# hypothesis explores new examples every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
