"""AMD certificate roles, VCEK/VLEK extensions, pinned roots, chain links, validity and CRLs."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cairn_verifier.checks import Outcome
from cairn_verifier.errors import ChainError, MalformedInputError, ParseError
from cairn_verifier.snp.certs import CertCollection, load_cert_collection
from cairn_verifier.snp.chain import (
    AmdChain,
    check_revocation,
    require_rsa_pss_sha384,
    verify_ark_self_signature,
    verify_intermediate,
    verify_leaf,
)
from cairn_verifier.snp.extensions import AmdExtensions
from cairn_verifier.snp.policy import SnpPolicy
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.roles import AmdCertRole, amd_cert_product, amd_cert_role, role_label
from cairn_verifier.snp.roots import (
    PINNED_FINGERPRINTS,
    check_ark_pinned,
    pinned_ark,
    pinned_intermediate,
)
from cairn_verifier.snp.verify import VLEK_EXPIRED_HINT, SnpVerifyRequest, verify_snp_report
from cairn_verifier.x509.cert import Certificate, Extension, load_certificates, parse_certificate
from cairn_verifier.x509.crl import load_crl

SNP = Path("snp")
MILAN, GENOA, TURIN = ProductLine.MILAN, ProductLine.GENOA, ProductLine.TURIN


def certs_of(testdata: Path, *rels: str) -> list[Certificate]:
    return [c for rel in rels for c in load_certificates((testdata / SNP / rel).read_bytes())]


def one(testdata: Path, rel: str) -> Certificate:
    (cert,) = certs_of(testdata, rel)
    return cert


def collection(testdata: Path, *rels: str) -> CertCollection:
    result = CertCollection()
    for rel in rels:
        result.add_bytes((testdata / SNP / rel).read_bytes(), source=rel)
    return result


def openpcc(testdata: Path) -> dict[str, bytes]:
    text = (testdata / SNP / "openpcc/sev_certificates.txt").read_bytes()
    parts = re.split(rb"^-- (\S+) --\r?\n", text, flags=re.MULTILINE)
    return {name.decode(): body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def pipeline_chain(
    leaf: Certificate,
    role: AmdCertRole,
    product: ProductLine,
    *,
    intermediate: Certificate | None,
    ark: Certificate | None,
) -> AmdChain:
    """The chain step of ``verify_snp_report``: the ARK pinned, then every link of
    :meth:`AmdChain.links`, in order (ChainError from the first that fails)."""
    root = check_ark_pinned(ark, product)
    chain = AmdChain.assemble(leaf, role, product, intermediate=intermediate, ark=root)
    chain.verify()
    return chain


def _report_field(testdata: Path, rel: str, offset: int, size: int) -> bytes:
    return (testdata / SNP / rel).read_bytes()[offset : offset + size]


# ------------------------------------------------------------------------ roles


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        (
            "trustee/milan_ask_ark_asvk.pem",
            [(AmdCertRole.ASK, MILAN), (AmdCertRole.ARK, MILAN), (AmdCertRole.ASVK, MILAN)],
        ),
        (
            "trustee/genoa_ask_ark_asvk.pem",
            [(AmdCertRole.ASK, GENOA), (AmdCertRole.ARK, GENOA), (AmdCertRole.ASVK, GENOA)],
        ),
        (
            "trustee/turin_ask_ark_asvk.pem",
            [(AmdCertRole.ASK, TURIN), (AmdCertRole.ARK, TURIN), (AmdCertRole.ASVK, TURIN)],
        ),
        (
            "routex-client-lua/vcek-chain-turin.pem",
            [(AmdCertRole.VCEK, TURIN), (AmdCertRole.ASK, TURIN), (AmdCertRole.ARK, TURIN)],
        ),
        ("trustee/snp_test-vlek.der", [(AmdCertRole.VLEK, MILAN)]),
        ("trustee/az-snp-vtpm_vcek-genoa.pem", [(AmdCertRole.VCEK, GENOA)]),
    ],
)
def test_roles_from_common_names(testdata: Path, rel: str, expected: list[object]) -> None:
    assert [(amd_cert_role(c), amd_cert_product(c)) for c in certs_of(testdata, rel)] == expected


def test_non_amd_certificate_has_no_role(testdata: Path) -> None:
    intel = parse_certificate((testdata / "tdx/dcap-qvl/src/TrustedRootCA.der").read_bytes())
    with pytest.raises(MalformedInputError, match="not an AMD SEV certificate"):
        amd_cert_role(intel)


# ------------------------------------------------------------------------ extensions


def test_trustee_invalid_legacy_extensions(testdata: Path) -> None:
    ext = AmdExtensions.from_certificate(one(testdata, "trustee/snp_test-vcek-invalid-legacy.der"))
    assert ext.hwid == bytes(range(64))  # 00 01 02 03 ... raw, no OCTET STRING tag
    assert ext.tcb_components() == {"bootloader": 3, "tee": 0, "snp": 10, "microcode": 169}
    assert ext.product_name == "Milan-B0"
    assert ext.product is MILAN


def test_trustee_invalid_new_wrapped_hwid(testdata: Path) -> None:
    cert = one(testdata, "trustee/snp_test-vcek-invalid-new.der")
    raw = cert.extensions["1.3.6.1.4.1.3704.1.4"].value
    assert raw[:2] == b"\x04\x40"  # hwID wrapped in an OCTET STRING
    ext = AmdExtensions.from_certificate(cert)
    assert ext.hwid == bytes(range(64))
    assert ext.tcb_components() == {"bootloader": 0, "tee": 0, "snp": 0, "microcode": 30}


def test_milan_vcek_matches_its_report(testdata: Path) -> None:
    """The VCEK's TCB and hwID equal REPORTED_TCB (0x180) and CHIP_ID (0x1A0) of its report."""
    for vcek_rel, report_rel in [
        ("trustee/snp_test-vcek.der", "trustee/snp_test-report.bin"),
        ("go-sev-guest/vcek.testcer", "go-sev-guest/attestation.bin"),
    ]:
        ext = AmdExtensions.from_certificate(one(testdata, vcek_rel))
        tcb = _report_field(testdata, report_rel, 0x180, 8)
        assert ext.tcb_components() == {
            "bootloader": tcb[0],
            "tee": tcb[1],
            "snp": tcb[6],
            "microcode": tcb[7],
        }
        assert ext.hwid == _report_field(testdata, report_rel, 0x1A0, 64)
        assert ext.struct_version == 0
        assert (ext.spl_4, ext.spl_5, ext.spl_6, ext.spl_7) == (0, 0, 0, 0)
        assert ext.fmc_spl is None
        assert ext.csp_id is None


def test_turin_vcek_extensions(testdata: Path) -> None:
    # Oak's KDS URL for this VCEK: /vcek/v1/Turin/3b42092f69c656d3?ucodeSPL=71&snpSPL=2
    # &teeSPL=0&blSPL=1&fmcSPL=0 (oak/turin_oc_endorsements.textproto).
    vcek = certs_of(testdata, "routex-client-lua/vcek-chain-turin.pem")[0]
    ext = AmdExtensions.from_certificate(vcek)
    assert ext.hwid == bytes.fromhex("3b42092f69c656d3")
    assert ext.struct_version == 1
    assert ext.product_name == "Turin"
    assert ext.spl_4 is None
    assert ext.fmc_spl == 0
    components = ext.tcb_components()
    assert list(components) == ["fmc", "bootloader", "tee", "snp", "microcode"]
    assert components == {"fmc": 0, "bootloader": 1, "tee": 0, "snp": 2, "microcode": 71}

    other = AmdExtensions.from_certificate(one(testdata, "virtee-sev/vcek_turin.der"))
    assert other.hwid is not None
    assert len(other.hwid) == 8
    assert "1.3.6.1.4.1.3704.1.3.9" in one(testdata, "virtee-sev/vcek_turin.der").extensions


@pytest.mark.parametrize(
    ("rel", "csp"),
    [
        ("trustee/snp_test-vlek.der", "CN=cc-us-east-2.amazonaws.com"),
        ("constellation/snp_vlek.pem", "CN=cc-us-east-2.amazonaws.com"),
        ("constellation/aws-snp_vlek.pem", "CN=cc-eu-west-1.amazonaws.com"),
    ],
)
def test_vlek_extensions(testdata: Path, rel: str, csp: str) -> None:
    ext = AmdExtensions.from_certificate(one(testdata, rel))
    assert ext.csp_id == csp
    assert ext.hwid is None
    assert ext.product_name == "Milan"
    assert set(ext.tcb_components()) == {"bootloader", "tee", "snp", "microcode"}


def test_vlek_report_tcb_matches(testdata: Path) -> None:
    ext = AmdExtensions.from_certificate(one(testdata, "trustee/snp_test-vlek.der"))
    tcb = _report_field(testdata, "trustee/snp_test-vlek-report.bin", 0x180, 8)
    assert ext.tcb_components() == {
        "bootloader": tcb[0],
        "tee": tcb[1],
        "snp": tcb[6],
        "microcode": tcb[7],
    }
    assert ext.tcb_components()["microcode"] == 217  # encoded 02 02 00 D9


def _with_extensions(cert: Certificate, **changes: bytes | None) -> Certificate:
    """A copy of ``cert`` whose AMD extensions (by OID suffix) are replaced or removed."""
    extensions = dict(cert.extensions)
    for suffix, value in changes.items():
        oid = "1.3.6.1.4.1.3704.1." + suffix.removeprefix("x").replace("_", ".")
        if value is None:
            del extensions[oid]
        else:
            extensions[oid] = Extension(oid, False, value)
    return dataclasses.replace(cert, extensions=MappingProxyType(extensions))


def test_missing_mandatory_extension_is_named(testdata: Path) -> None:
    vcek = one(testdata, "trustee/snp_test-vcek.der")
    with pytest.raises(
        ParseError, match=r"lacks the ucodeSPL extension \(1\.3\.6\.1\.4\.1\.3704\.1\.3\.8\)"
    ):
        AmdExtensions.from_certificate(_with_extensions(vcek, x3_8=None))
    with pytest.raises(ParseError, match="lacks the hwID extension"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x4=None))
    with pytest.raises(ParseError, match="lacks the productName extension"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x2=None))
    vlek = one(testdata, "trustee/snp_test-vlek.der")
    with pytest.raises(ParseError, match="lacks the cspID extension"):
        AmdExtensions.from_certificate(_with_extensions(vlek, x5=None))
    turin = one(testdata, "virtee-sev/vcek_turin.der")
    with pytest.raises(ParseError, match="lacks the fmcSPL extension"):
        AmdExtensions.from_certificate(_with_extensions(turin, x3_9=None))


def test_malformed_extension_values(testdata: Path) -> None:
    vcek = one(testdata, "trustee/snp_test-vcek.der")
    with pytest.raises(ParseError, match=r"snpSPL 256 is outside 0\.\.255"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x3_3=b"\x02\x02\x01\x00"))
    with pytest.raises(ParseError, match="blSPL is not a minimal DER INTEGER"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x3_1=b"\x02\x02\x00\x03"))
    with pytest.raises(ParseError, match="teeSPL has DER tag 0x04"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x3_2=b"\x04\x01\x00"))
    with pytest.raises(ParseError, match="snpSPL is not valid DER"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x3_3=b"\x02\x05\x00"))
    with pytest.raises(ParseError, match="hwID has 63 bytes, expected 64"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x4=bytes(63)))
    with pytest.raises(ParseError, match="unknown AMD product line 'Rome'"):
        AmdExtensions.from_certificate(_with_extensions(vcek, x2=b"\x16\x04Rome"))
    ask = certs_of(testdata, "go-sev-guest/milan.testcer")[0]
    with pytest.raises(ParseError, match="only VCEKs and VLEKs"):
        AmdExtensions.from_certificate(ask)


# ------------------------------------------------------------------------ pinned roots


@pytest.mark.parametrize(
    ("product", "ark_serial", "ask_serial", "asvk_serial"),
    [
        (MILAN, 0x10000, 0x10001, 0x10101),
        (GENOA, 0x20000, 0x20002, 0x20101),
        (TURIN, 0x30000, 0x30001, 0x30101),
    ],
)
def test_pinned_roots(
    testdata: Path, product: ProductLine, ark_serial: int, ask_serial: int, asvk_serial: int
) -> None:
    ark = pinned_ark(product)
    ask = pinned_intermediate(product, AmdCertRole.ASK)
    asvk = pinned_intermediate(product, AmdCertRole.ASVK)
    assert (ark.serial, ask.serial, asvk.serial) == (ark_serial, ask_serial, asvk_serial)
    assert ark.subject.common_name == f"ARK-{product}"
    assert ask.subject.common_name == f"SEV-{product}"
    assert asvk.subject.common_name == f"SEV-VLEK-{product}"
    for role, cert in [(AmdCertRole.ARK, ark), (AmdCertRole.ASK, ask), (AmdCertRole.ASVK, asvk)]:
        assert cert.fingerprint_sha256.hex() == PINNED_FINGERPRINTS[(product, role)]
    # Byte-identical to the copies every upstream project ships (trustee bundle: ASK, ARK, ASVK).
    bundle = certs_of(testdata, f"trustee/{product.value.lower()}_ask_ark_asvk.pem")
    assert bundle == [ask, ark, asvk]
    verify_ark_self_signature(ark)
    assert verify_intermediate(ask, ark, product) is AmdCertRole.ASK
    assert verify_intermediate(asvk, ark, product) is AmdCertRole.ASVK


def test_pinned_ark_fingerprints_from_the_brief() -> None:
    assert pinned_ark(MILAN).fingerprint_sha256.hex() == (
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
    )
    assert pinned_ark(GENOA).fingerprint_sha256.hex() == (
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"
    )
    assert pinned_ark(TURIN).fingerprint_sha256.hex() == (
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"
    )


def test_pinned_intermediate_rejects_other_roles() -> None:
    with pytest.raises(ValueError, match="not an intermediate"):
        pinned_intermediate(MILAN, AmdCertRole.VCEK)


# ------------------------------------------------------------------------ chains

# (files, product, leaf role) for every VCEK/VLEK chain PROVENANCE.md lists as verifying.
LEAF_CHAINS = [
    (("azure-cvm-tooling/certs.pem",), MILAN, AmdCertRole.VCEK),
    (("constellation/snp_vcek.pem", "constellation/snp_certchain.pem"), MILAN, AmdCertRole.VCEK),
    (("constellation/snp_vcek.cert",), MILAN, AmdCertRole.VCEK),
    (("go-sev-guest/vcek.testcer", "go-sev-guest/milan.testcer"), MILAN, AmdCertRole.VCEK),
    (("routex-client-lua/vcek-chain-milan.pem",), MILAN, AmdCertRole.VCEK),
    (("routex-client-lua/vcek-chain-genoa.pem",), GENOA, AmdCertRole.VCEK),
    (("routex-client-lua/vcek-chain-turin.pem",), TURIN, AmdCertRole.VCEK),
    (("trustee/az-snp-vtpm_vcek.pem",), MILAN, AmdCertRole.VCEK),
    (("trustee/az-snp-vtpm_vcek-genoa.pem",), GENOA, AmdCertRole.VCEK),
    (("trustee/snp_test-vcek.der", "trustee/milan_ask_ark_asvk.pem"), MILAN, AmdCertRole.VCEK),
    (("virtee-sev/vcek_milan.der", "virtee-sev/cert_chain_milan"), MILAN, AmdCertRole.VCEK),
    (("virtee-sev/vcek_turin.der", "virtee-sev/cert_chain_turin"), TURIN, AmdCertRole.VCEK),
    (
        ("constellation/snp_vlek.pem", "constellation/snp_vlekcertchain.pem"),
        MILAN,
        AmdCertRole.VLEK,
    ),
    (
        ("constellation/aws-snp_vlek.pem", "constellation/aws-snp_certchain.pem"),
        MILAN,
        AmdCertRole.VLEK,
    ),
    (("trustee/snp_test-vlek.der", "trustee/milan_ask_ark_asvk.pem"), MILAN, AmdCertRole.VLEK),
]


@pytest.mark.parametrize(("rels", "product", "role"), LEAF_CHAINS, ids=str)
def test_every_leaf_chain_verifies(
    testdata: Path, rels: tuple[str, ...], product: ProductLine, role: AmdCertRole
) -> None:
    certs = collection(testdata, *rels)
    assert certs.product is product
    leaf = certs.get(role)
    assert leaf is not None
    intermediate = certs.get(role.issuer_role)
    result = pipeline_chain(leaf, role, product, intermediate=intermediate, ark=certs.ark)
    assert result.leaf_role is role
    assert result.intermediate_role is role.issuer_role
    assert result.ark == pinned_ark(product)
    assert certs.ark is None or certs.ark == result.ark  # a supplied ARK is the pinned one
    assert result.intermediate == pinned_intermediate(product, role.issuer_role)
    assert result.intermediate_source == ("supplied" if intermediate is not None else "pinned")
    assert [role_label(c) for c in result.certificates] == [
        role.value,
        role.issuer_role.value,
        "ARK",
    ]
    assert [link.check for link in result.links()] == [
        "ark-self-signature",
        "intermediate-signature",
        "leaf-signature",
    ]
    # The same leaf also verifies against the pinned intermediate and ARK alone.
    pinned = pipeline_chain(leaf, role, product, intermediate=None, ark=None)
    assert pinned.intermediate_source == "pinned"


def test_openpcc_vcek_chain(testdata: Path) -> None:
    files = openpcc(testdata)
    certs = CertCollection.from_bytes(files["test_vcek.pem"], source="test_vcek.pem")
    certs.add_bytes(files["test_amd_sev_genoa_root_certs.pem"], source="genoa roots")
    assert certs.vcek is not None
    assert certs.product is GENOA
    pipeline_chain(certs.vcek, AmdCertRole.VCEK, GENOA, intermediate=certs.ask, ark=certs.ark)


@pytest.mark.parametrize(
    "rel",
    [
        "trustee/snp_test-vcek-invalid-legacy.der",
        "trustee/snp_test-vcek-invalid-new.der",
    ],
)
def test_tampered_vceks_fail_the_ask_link(testdata: Path, rel: str) -> None:
    vcek = one(testdata, rel)
    ark = pinned_ark(MILAN)
    ask = pinned_intermediate(MILAN, AmdCertRole.ASK)
    verify_ark_self_signature(ark)
    verify_intermediate(ask, ark, MILAN)  # the links above the VCEK are fine
    with pytest.raises(ChainError, match="does not verify under the key of 'SEV-Milan'") as info:
        pipeline_chain(vcek, AmdCertRole.VCEK, MILAN, intermediate=None, ark=None)
    assert info.value.component == "VCEK"
    with pytest.raises(ChainError, match="RSASSA-PSS"):
        verify_leaf(vcek, ask)


def test_foreign_ark_is_refused(testdata: Path) -> None:
    vcek, ask, _ = certs_of(testdata, "routex-client-lua/vcek-chain-milan.pem")
    genoa_ark = pinned_ark(GENOA)
    with pytest.raises(ChainError, match="ARK is not AMD's pinned ARK-Milan") as info:
        pipeline_chain(vcek, AmdCertRole.VCEK, MILAN, intermediate=ask, ark=genoa_ark)
    assert info.value.component == "ARK"
    with pytest.raises(ChainError, match="ARK is not AMD's pinned ARK-Milan"):
        check_ark_pinned(_fake(f"ARK-{MILAN}", f"ARK-{MILAN}"), MILAN)
    assert check_ark_pinned(None, MILAN) == pinned_ark(MILAN)


def test_leaf_role_mismatch(testdata: Path) -> None:
    vcek = one(testdata, "trustee/snp_test-vcek.der")
    vlek = one(testdata, "trustee/snp_test-vlek.der")
    asvk = pinned_intermediate(MILAN, AmdCertRole.ASVK)
    ask = pinned_intermediate(MILAN, AmdCertRole.ASK)
    with pytest.raises(ChainError, match="a VCEK must be issued by the ASK") as info:
        pipeline_chain(vcek, AmdCertRole.VCEK, MILAN, intermediate=asvk, ark=None)
    assert info.value.component == "VCEK"
    with pytest.raises(ChainError, match="a VLEK must be issued by the ASVK"):
        verify_leaf(vlek, ask)
    with pytest.raises(ChainError, match="is an ASK, not a VCEK or VLEK"):
        pipeline_chain(ask, AmdCertRole.VCEK, MILAN, intermediate=None, ark=None)
    with pytest.raises(ChainError, match="is an ARK, not an ASK or ASVK"):
        verify_intermediate(pinned_ark(MILAN), pinned_ark(MILAN), MILAN)


def test_product_mismatch(testdata: Path) -> None:
    vcek, ask, _ = certs_of(testdata, "routex-client-lua/vcek-chain-milan.pem")
    with pytest.raises(ChainError, match="ASK 'SEV-Milan' belongs to Milan, not Genoa"):
        pipeline_chain(vcek, AmdCertRole.VCEK, GENOA, intermediate=ask, ark=None)
    with pytest.raises(
        ChainError, match=r"names issuer 'CN=SEV-Milan.*supplied issuer is 'CN=SEV-Genoa"
    ):
        pipeline_chain(vcek, AmdCertRole.VCEK, GENOA, intermediate=None, ark=None)


def _fake(subject_cn: str, issuer_cn: str, *, pss: bool = False) -> Certificate:
    key = ec.generate_private_key(ec.SECP384R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    cert = (
        x509.CertificateBuilder()
        .subject_name(name(subject_cn))
        .issuer_name(name(issuer_cn))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA384())
    )
    return parse_certificate(cert.public_bytes(serialization.Encoding.DER))


def test_non_pss_leaf_is_refused() -> None:
    fake = _fake("SEV-VCEK", "SEV-Milan")
    with pytest.raises(ChainError, match=r"signed with ECDSA-SHA-384; AMD signs with RSASSA-PSS"):
        require_rsa_pss_sha384(fake, "VCEK")
    with pytest.raises(ChainError, match="AMD signs with RSASSA-PSS"):
        verify_leaf(fake, pinned_intermediate(MILAN, AmdCertRole.ASK))


# ------------------------------------------------------------------------ validity


def _validity_checks(testdata: Path, at: datetime) -> list[tuple[str, Outcome, str, str | None]]:
    """(component, outcome, summary, hint) of every validity check of the pipeline on the
    real AWS VLEK report (trustee) with its VLEK and the Milan ASVK/ARK."""
    certs = collection(testdata, "trustee/snp_test-vlek.der", "trustee/milan_ask_ark_asvk.pem")
    report = (testdata / SNP / "trustee/snp_test-vlek-report.bin").read_bytes()
    request = SnpVerifyRequest(at=at, certs=certs, policy=SnpPolicy(allow_debug=True))
    result = verify_snp_report(report, request)
    checks = [c for c in result.checks if c.name == "validity"]
    return [(c.component, c.outcome, c.summary, c.hint) for c in checks]


def test_validity_at_pinned_times(testdata: Path) -> None:
    inside = _validity_checks(testdata, datetime(2025, 6, 1, tzinfo=UTC))
    assert [(c, o) for c, o, _, _ in inside] == [
        ("SEV-VLEK", Outcome.PASS),
        ("SEV-VLEK-Milan", Outcome.PASS),
        ("ARK-Milan", Outcome.PASS),
    ]

    later = _validity_checks(testdata, datetime(2026, 1, 1, tzinfo=UTC))
    assert [o for _, o, _, _ in later] == [Outcome.FAIL, Outcome.PASS, Outcome.PASS]
    component, _, summary, hint = later[0]
    assert summary == "SEV-VLEK certificate 'SEV-VLEK' expired on 2025-12-10T22:14:21Z"
    assert component == "SEV-VLEK"
    assert hint == VLEK_EXPIRED_HINT
    assert hint is not None and "one year" in hint
    assert later[1][2] == "valid until 2047-11-16"

    before = _validity_checks(testdata, datetime(2022, 1, 1, tzinfo=UTC))
    # ARK-Milan is from 2020
    assert [o for _, o, _, _ in before] == [Outcome.FAIL, Outcome.FAIL, Outcome.PASS]
    assert "not yet valid until 2022-11-16" in before[1][2]
    assert before[0][3] != VLEK_EXPIRED_HINT  # not yet valid is not expired


# ------------------------------------------------------------------------ revocation


def test_genoa_crl_revocation(testdata: Path) -> None:
    crl = load_crl(openpcc(testdata)["test_amd_genoa_crl.pem"])
    ark = pinned_ark(GENOA)
    ask = pinned_intermediate(GENOA, AmdCertRole.ASK)
    status = check_revocation(crl, ark, ask, at=datetime(2025, 1, 1, tzinfo=UTC))
    assert status.serial == 0x20002
    assert status.crl_number == 4
    assert crl.is_revoked(0x20001)
    assert not crl.is_revoked(0x20002)
    # The earlier Genoa ASK (serial 0x20001) is what this CRL revokes.
    old_ask = dataclasses.replace(ask, serial=0x20001)
    with pytest.raises(ChainError, match="ASK 'SEV-Genoa' serial 0x20001 is revoked since 2022"):
        check_revocation(crl, ark, old_ask, at=datetime(2025, 1, 1, tzinfo=UTC))
    # The CRL's nextUpdate (2025-11-03) has passed by 2026.
    with pytest.raises(ChainError, match="CRL is stale"):
        check_revocation(crl, ark, ask, at=datetime(2026, 1, 1, tzinfo=UTC))


def test_milan_crl_revocation(testdata: Path) -> None:
    files = openpcc(testdata)
    crl = load_crl(files["test_amd_milan_crl.pem"])
    ark, asvk = pinned_ark(MILAN), pinned_intermediate(MILAN, AmdCertRole.ASVK)
    status = check_revocation(crl, ark, asvk, at=datetime(2026, 1, 1, tzinfo=UTC))
    assert status.serial == 0x10101
    with pytest.raises(ChainError, match="issuer names differ"):
        check_revocation(crl, pinned_ark(GENOA), asvk, at=datetime(2026, 1, 1, tzinfo=UTC))


# ------------------------------------------------------------------------ collections


def test_directory_as_snpguest_writes_it(testdata: Path, tmp_path: Path) -> None:
    ask, ark = certs_of(testdata, "go-sev-guest/milan.testcer")
    vcek_der = (testdata / SNP / "go-sev-guest/vcek.testcer").read_bytes()
    # Misleading file names on purpose: roles come from the CN, not the name.
    (tmp_path / "ask.pem").write_bytes(_pem(ark))
    (tmp_path / "ark.PEM").write_bytes(_pem(ask))
    (tmp_path / "vcek.der").write_bytes(vcek_der)
    (tmp_path / "crl.der").write_bytes(load_crl(openpcc(testdata)["test_amd_milan_crl.pem"]).der)
    (tmp_path / "notes.txt").write_text("ignored: not a certificate suffix")
    certs = load_cert_collection(tmp_path)
    assert (certs.ark, certs.ask) == (ark, ask)
    assert certs.vcek is not None
    assert certs.vcek.der == vcek_der
    assert certs.vlek is None
    assert certs.asvk is None
    assert certs.crl is not None
    assert certs.crl.issuer.common_name == "ARK-Milan"
    assert certs.product is MILAN
    assert len(certs) == 3


def _pem(cert: Certificate) -> bytes:
    return x509.load_der_x509_certificate(cert.der).public_bytes(serialization.Encoding.PEM)


def test_single_file_bundle(testdata: Path) -> None:
    certs = load_cert_collection(testdata / SNP / "trustee/turin_ask_ark_asvk.pem")
    assert certs.product is TURIN
    assert certs.vcek is None
    assert {amd_cert_role(c) for c in (certs.ark, certs.ask, certs.asvk) if c} == {
        AmdCertRole.ARK,
        AmdCertRole.ASK,
        AmdCertRole.ASVK,
    }


def test_vlek_alone_names_its_product(testdata: Path) -> None:
    certs = load_cert_collection(testdata / SNP / "constellation/aws-snp_vlek.pem")
    assert certs.vlek is not None
    assert certs.product is MILAN


def test_duplicate_same_certificate_is_fine(testdata: Path) -> None:
    certs = collection(testdata, "go-sev-guest/milan.testcer", "virtee-sev/cert_chain_milan")
    assert len(certs) == 2


def test_two_certificates_for_one_role(testdata: Path) -> None:
    certs = collection(testdata, "go-sev-guest/vcek.testcer")
    with pytest.raises(MalformedInputError, match="two different certificates claim the VCEK"):
        certs.add(one(testdata, "virtee-sev/vcek_milan.der"), source="vcek_milan.der")


def test_mixed_products_rejected(testdata: Path) -> None:
    certs = collection(testdata, "go-sev-guest/milan.testcer")
    with pytest.raises(MalformedInputError, match="is for Genoa, but the other certificates"):
        certs.add(one(testdata, "trustee/az-snp-vtpm_vcek-genoa.pem"))
    assert certs.vcek is None


def test_foreign_certificate_rejected(testdata: Path) -> None:
    intel = (testdata / "tdx/dcap-qvl/src/TrustedRootCA.der").read_bytes()
    with pytest.raises(MalformedInputError, match=r"root\.der: certificate .* is not an AMD SEV"):
        CertCollection.from_bytes(intel, source="root.der")


def test_collection_input_errors(tmp_path: Path) -> None:
    with pytest.raises(MalformedInputError, match="no such file or directory"):
        load_cert_collection(tmp_path / "missing")
    with pytest.raises(MalformedInputError, match=r"no \*\.pem"):
        load_cert_collection(tmp_path)
    (tmp_path / "vcek.pem").write_text("not a certificate")
    with pytest.raises(MalformedInputError, match=r"vcek\.pem: no certificate found"):
        load_cert_collection(tmp_path)
    (tmp_path / "vcek.pem").write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(ParseError, match=r"vcek\.pem: malformed X\.509 certificate"):
        load_cert_collection(tmp_path)


def test_from_certificates(testdata: Path) -> None:
    chain = certs_of(testdata, "routex-client-lua/vcek-chain-genoa.pem")
    certs = CertCollection.from_certificates(chain)
    assert certs.get(AmdCertRole.VCEK) == chain[0]
    assert certs.product is GENOA
