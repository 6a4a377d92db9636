"""Seed inputs for fuzzing: real reports, quotes, certificates, CRLs, collateral and TPM quotes
from ``examples/`` and ``tests/vectors/``, and real documents built from them with Cairn's own
writers (policies from docs/policy.md, an evidence bundle, a service proof, a collateral bundle,
reference values)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_verifier.azure.hcl import parse_hcl_report
from cairn_verifier.binding.proof_document import proof_document
from cairn_verifier.binding.services import ServiceEntry, build_service_tree
from cairn_verifier.binding.system_hash import system_hash
from cairn_verifier.collateral.bundle import BundleEntry, build_bundle
from cairn_verifier.collateral.cache import CacheEntry
from cairn_verifier.snp.kds import crl_url_path, vcek_url_path
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.reference_values import FORMAT as REFERENCE_FORMAT
from cairn_verifier.snp.report import parse_report, peek_signing_fields
from cairn_verifier.snp.tcb import TcbVersion
from cairn_verifier.tdx.pcs import (
    PCS_BASE_URL,
    QE_IDENTITY_PATH,
    ROOT_CA_CRL_PATH,
    encode_envelope,
    pck_crl_path,
    tcb_info_path,
)
from cairn_verifier.x509.cert import pem_blocks
from cairn_verifier.zk.witness import PUBLIC_INPUT_COUNT

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MILAN = EXAMPLES / "snp" / "milan-v3-oak-containers"
TDX = EXAMPLES / "tdx" / "dcap-qvl-sample"
MILAN_AT = "2025-12-01T00:00:00Z"  # inside the VCEK validity and the CRL window
NONCE = bytes(range(32))
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-25.11"
SERVICES = {
    "echo-cpp": "/nix/store/1g6cq2ic1x7alnmpmzb7nl8xg3c9y7m5-echo-cpp-0.1.0",
    "echo-rust": "/nix/store/2j3nqrz5kbyy0m1q3yqdqzq1m1xw8w8k-echo-rust-0.1.0",
}


@dataclass(frozen=True)
class TpmQuoteParts:
    """A TPM quote as tpm2-tools writes it (from a real swtpm), for the TPM parsers."""

    attest: bytes
    signature: bytes
    ak_public: bytes
    pcrs: Mapping[tuple[str, int], bytes]


@dataclass
class Corpus:
    """Seeds by kind (``"snp-report"``, ``"policy"``, …), each a list of (name, bytes)."""

    seeds: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    def add(self, kind: str, name: str, data: bytes) -> None:
        self.seeds.setdefault(kind, []).append((name, data))

    def of(self, kind: str) -> list[tuple[str, bytes]]:
        return self.seeds.get(kind, [])

    def first(self, kind: str) -> bytes:
        return self.seeds[kind][0][1]

    def all(self) -> list[tuple[str, bytes]]:
        return [item for items in self.seeds.values() for item in items]


def _public_key(seed: int) -> bytes:
    key = ec.derive_private_key(seed, ec.SECP256K1()).public_key()
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def services() -> list[ServiceEntry]:
    return [
        ServiceEntry(name, path, _public_key(index + 1))
        for index, (name, path) in enumerate(sorted(SERVICES.items()))
    ]


def _der_certificates(directory: Path) -> list[bytes]:
    return [der for name in ("vcek", "ask", "ark") for der in _pem(directory / f"{name}.pem")]


def _pem(path: Path) -> list[bytes]:
    return pem_blocks(path.read_bytes(), "CERTIFICATE")


def evidence_document(tpm: TpmQuoteParts | None) -> dict[str, object]:
    """An evidence bundle of the Milan example report (a real report whose REPORT_DATA someone
    else made, so it can never fully verify) with claims computed by the binding library."""
    entries = services()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    tpm_doc = None
    if tpm is not None:
        pcrs: dict[str, dict[str, str]] = {}
        for (bank, index), value in tpm.pcrs.items():
            pcrs.setdefault(bank, {})[str(index)] = value.hex()
        tpm_doc = {
            "quote": b64(tpm.attest),
            "signature": b64(tpm.signature),
            "ak_public": b64(tpm.ak_public),
            "pcrs": pcrs,
            "event_log": None,
        }
    return {
        "format": "cairn-evidence",
        "version": 1,
        "tee": {
            "kind": "sev-snp",
            "report": b64((MILAN / "report.bin").read_bytes()),
            "certificates": [b64(der) for der in _der_certificates(MILAN)],
        },
        "tpm": tpm_doc,
        "claims": {
            "nonce": NONCE.hex(),
            "system": {"store_path": SYSTEM, "hash": system_hash(SYSTEM).hex()},
            "services": [
                {"name": s.name, "store_path": s.store_path, "public_key": s.public_key.hex()}
                for s in entries
            ],
            "tree_root": f"{build_service_tree(entries).root:064x}",
            "gpu_digest": None,
            "report_data_version": 2,
        },
        "agent": {"version": "fuzz", "simulated": False},
    }


def proof_documents() -> list[dict[str, object]]:
    entries = services()
    tree = build_service_tree(entries)
    return [proof_document(tree, entry) for entry in entries]


def tree_root() -> str:
    return f"{build_service_tree(services()).root:064x}"


def collateral_bundle(crl_der: bytes) -> bytes:
    """A KDS collateral bundle for the Milan example: its VCEK (keyed by chip id and reported
    TCB, as ``cairn collateral export`` keys it) and AMD's Milan VCEK CRL."""
    report = (MILAN / "report.bin").read_bytes()
    peek = peek_signing_fields(report)
    tcb = TcbVersion.decode(peek.reported_tcb, ProductLine.MILAN).components()
    fetched = datetime(2025, 11, 30, tzinfo=UTC)
    documents = (
        (vcek_url_path("Milan", peek.chip_id, tcb), _der_certificates(MILAN)[0], None),
        (crl_url_path("Milan", "vcek"), crl_der, datetime(2026, 5, 12, tzinfo=UTC)),
    )
    entries = [
        BundleEntry.from_cache_entry(
            CacheEntry(
                namespace="kds",
                key=key,
                data=data,
                url="https://kdsintf.amd.com" + key,
                fetched_at=fetched,
                expires_at=expires,
            )
        )
        for key, data, expires in documents
    ]
    return (build_bundle(entries, created_at=fetched).model_dump_json(indent=1) + "\n").encode()


def pcs_collateral_bundle(testdata: Path) -> bytes:
    """A collateral bundle of the Intel PCS answers for the TDX example quote (real Intel-signed
    bytes, stored as the PCS client stores them), fresh at the quote's ``verify-at`` time."""
    from fakes.pcs import load_qvl_pcs_set  # tests/ is on the path here

    pcs = load_qvl_pcs_set(testdata)
    documents = (
        (tcb_info_path(bytes.fromhex("B0C06F000000")), pcs.tcb_body, pcs.tcb_chain),
        (QE_IDENTITY_PATH, pcs.qe_body, pcs.qe_chain),
        (pck_crl_path("platform"), pcs.pck_crl, pcs.pck_chain),
        (ROOT_CA_CRL_PATH, pcs.root_crl, None),
    )
    fetched = datetime(2025, 6, 19, 10, 32, 27, tzinfo=UTC)
    entries = [
        BundleEntry.from_cache_entry(
            CacheEntry(
                namespace="pcs",
                key=key,
                data=encode_envelope(body, chain),
                url=PCS_BASE_URL + key,
                fetched_at=fetched,
                expires_at=datetime(2025, 7, 19, tzinfo=UTC),
            )
        )
        for key, body, chain in documents
    ]
    return (build_bundle(entries, created_at=fetched).model_dump_json(indent=1) + "\n").encode()


def reference_values() -> bytes:
    measurement = parse_report((MILAN / "report.bin").read_bytes()).measurement.hex()
    document = {
        "format": REFERENCE_FORMAT,
        "version": 1,
        "generator": "sev-snp-measure 0.0.13",
        "snp": {"measurements": [measurement]},
        "inputs": [
            {
                "ovmf": "11" * 32,
                "kernel": None,
                "initrd": None,
                "cmdline": None,
                "vcpus": 2,
                "vcpu_type": "EPYC-v4",
                "guest_features": "0x1",
                "vmm_type": "QEMU",
                "measurement": measurement,
            }
        ],
    }
    return json.dumps(document, indent=2).encode()


def policy_examples() -> list[tuple[str, str, str]]:
    """(name, language, text) of every policy example in docs/*.md: a TOML block whose first
    table is ``[snp]``, ``[tdx]``, ``[azure]`` or ``[evidence]`` (or a subtable), a JSON block
    whose first key is one of those."""
    policy = {
        "toml": re.compile(r"\A(?:\s*#[^\n]*\n)*\s*\[(?:snp|tdx|azure|evidence)[\].]"),
        "json": re.compile(r'\A\s*\{\s*"(?:snp|tdx|azure|evidence)"\s*:'),
    }
    found = []
    for doc in sorted((REPO / "docs").glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        blocks = re.findall(r"```(toml|json)\n(.*?)```", text, re.S)
        for index, (language, body) in enumerate(blocks):
            if policy[language].match(body):
                found.append((f"{doc.name}#{index}", language, body))
    return found


def zk_proof_document() -> bytes:
    """A membership-proof document shaped as the driver writes it (six public inputs: claims
    commitment, response hash halves, disclosure flag, system hash halves; the proof bytes are
    not a valid proof)."""
    inputs = [f"0x{value:064x}" for value in (12345, 1 << 100, 7, 0, 0, 0)]
    assert len(inputs) == PUBLIC_INPUT_COUNT
    document = {
        "format": "cairn-zk-proof",
        "version": 2,
        "circuit": "cairn_membership",
        "bytecode_sha256": "00" * 32,
        "crs": "insecure-dev",
        "insecure_dev_crs": True,
        "public_inputs": inputs,
        "proof": "00" * 64,
    }
    return json.dumps(document, indent=1).encode()


def azure_tpm_attest(testdata: Path) -> bytes:
    document = json.loads((testdata / "tdx/trustee-azure/tpm-quote-v1.json").read_text())
    return bytes.fromhex(document["message"])


AZURE_EVIDENCE = (
    "snp/trustee/az-snp-vtpm_evidence-v1.json",
    "snp/trustee/az-snp-vtpm_evidence-v0.json",
    "snp/trustee/az-snp-vtpm_evidence-v2.json",
    "snp/trustee/az-snp-vtpm_evidence-genoa.json",
    "tdx/trustee-azure/evidence-v0.json",
)
"""trustee's Azure evidence JSON (the first verifies at :data:`AZURE_AT` with
:data:`AZURE_NONCE`)."""
AZURE_NONCE = b"challenge"
AZURE_AT = "2025-01-29T16:26:55Z"


def azure_evidence(testdata: Path) -> list[tuple[str, bytes]]:
    return [(name, (testdata / name).read_bytes()) for name in AZURE_EVIDENCE]


def build(testdata: Path, tpm: TpmQuoteParts | None = None) -> Corpus:
    """Every seed. ``tpm``: a real quote from swtpm (else only the Azure TPMS_ATTEST is used)."""
    corpus = Corpus()
    for directory in sorted((EXAMPLES / "snp").glob("*/report.bin")):
        corpus.add("snp-report", str(directory.relative_to(REPO)), directory.read_bytes())
    corpus.add(
        "snp-report",
        "azure hcl",
        (testdata / "snp/trustee/az-snp-vtpm_hcl-report.bin").read_bytes(),
    )
    for name in ("vcek.pem", "ask.pem", "ark.pem"):
        corpus.add("certificate", f"milan {name}", (MILAN / name).read_bytes())
    for der in _der_certificates(MILAN)[:1]:
        corpus.add("certificate", "milan vcek.der", der)
    crl_pem = (EXAMPLES / "snp" / "milan-crl.pem").read_bytes()
    corpus.add("crl", "milan-crl.pem", crl_pem)
    (crl_der,) = pem_blocks(crl_pem, "X509 CRL")
    corpus.add("crl", "milan-crl.der", crl_der)
    corpus.add("tdx-quote", "dcap-qvl sample", (TDX / "quote.bin").read_bytes())
    corpus.add(
        "tdx-quote",
        "go-tdx-guest v5",
        (testdata / "tdx/go-tdx-guest/testdata/quote_v5_sample.dat").read_bytes(),
    )
    corpus.add("tdx-collateral", "dcap-qvl sample", (TDX / "collateral.json").read_bytes())
    pcs = testdata / "tdx/go-tdx-guest/testdata"
    corpus.add("pcs-tcb-info", "go-tdx-guest", (pcs / "sample_tcbInfo_response").read_bytes())
    corpus.add("pcs-qe-identity", "go-tdx-guest", (pcs / "sample_qeIdentity_response").read_bytes())
    corpus.add("crl", "go-tdx-guest rootcrl.der", (pcs / "rootcrl.der").read_bytes())
    corpus.add("collateral-bundle", "milan crl", collateral_bundle(crl_der))
    corpus.add("collateral-bundle", "tdx pcs answers", pcs_collateral_bundle(testdata))
    for name, language, text in policy_examples():
        corpus.add("policy", f"{name}.{language}", text.encode())
    corpus.add("reference-values", "milan", reference_values())
    corpus.add("evidence", "milan, no tpm", json.dumps(evidence_document(None), indent=2).encode())
    if tpm is not None:
        document = evidence_document(tpm)
        corpus.add("evidence", "milan + swtpm", json.dumps(document, indent=2).encode())
        corpus.add("tpm-attest", "swtpm", tpm.attest)
        corpus.add("tpm-signature", "swtpm", tpm.signature)
        corpus.add("tpm-public", "swtpm", tpm.ak_public)
    corpus.add("tpm-attest", "azure vtpm", azure_tpm_attest(testdata))
    keylime = (testdata / "eventlog/keylime/mb_log.b64").read_text()
    corpus.add("event-log", "keylime centos", base64.b64decode("".join(keylime.split())))
    corpus.add(
        "event-log",
        "dstack tdx",
        (testdata / "eventlog/dstack/tdx-lite-getquote.json").read_bytes(),
    )
    for name in ("table-loader", "rsdp", "tables"):
        corpus.add(
            f"qemu-acpi-{name}", "qemu 7.2 q35", (testdata / "tdx/qemu-acpi" / name).read_bytes()
        )
    for name, data in azure_evidence(testdata):
        corpus.add("azure-evidence", name, data)
    for name in ("snp/trustee/az-snp-vtpm_hcl-report.bin", "tdx/trustee-azure/hcl-report.bin"):
        hcl = (testdata / name).read_bytes()
        corpus.add("azure-hcl", name, hcl)
        corpus.add("azure-runtime-data", name, parse_hcl_report(hcl).runtime_data)
    for document in proof_documents():
        corpus.add("proof", str(document["service"]), json.dumps(document, indent=2).encode())  # type: ignore[index]
    corpus.add("zk-proof", "shape", zk_proof_document())
    return corpus
