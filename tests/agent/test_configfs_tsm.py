"""configfs-tsm provider against a fake configfs tree animated the way the kernel does it.

The fake keeps each report entry as a real directory under a temporary root. Writing
``inblob``/``privlevel`` bumps ``generation`` and (re)generates ``outblob``/``auxblob`` from a
real report or quote with the written REPORT_DATA patched in (not verifiable; these tests are
about the interface, not signatures).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn_agent.tee.base import ProviderError
from cairn_agent.tee.configfs_tsm import ConfigfsTsmProvider, OsTsmFilesystem
from cairn_verifier.snp.cert_table import CertRole, build_cert_table
from cairn_verifier.snp.report import parse_report
from cairn_verifier.tdx.quote import parse_quote

SNP_REPORT_DATA = 0x50
SNP_VMPL = 0x30
TDX_V4_REPORT_DATA = 48 + 520  # quote header + offset of REPORTDATA in the TD report body


class FakeTsm:
    """A TsmFilesystem that plays the kernel's configfs-tsm over a temporary directory."""

    def __init__(
        self,
        root: Path,
        provider: str,
        make_outblob: Callable[[bytes, int], bytes],
        auxblob: bytes | None,
        privlevel_floor: int = 0,
    ):
        self.root = root
        self.provider = provider
        self.make_outblob = make_outblob
        self.auxblob = auxblob
        self.privlevel_floor = privlevel_floor
        self.errors: dict[tuple[str, str], int] = {}  # (operation, attribute) -> errno
        self.after_write: Callable[[Path], None] | None = None
        self.before_read: Callable[[Path], None] | None = None
        self.created: list[Path] = []
        self.removed: list[Path] = []
        self.writes: list[tuple[str, bytes]] = []
        self.state: dict[Path, dict[str, object]] = {}
        root.mkdir(parents=True, exist_ok=True)

    def _maybe_fail(self, op: str, path: Path) -> None:
        code = self.errors.get((op, path.name))
        if code is not None:
            raise OSError(code, os.strerror(code), str(path))

    def mkdir(self, path: Path) -> None:
        self._maybe_fail("mkdir", path)
        os.mkdir(path)
        self.created.append(path)
        self.state[path] = {"generation": 0, "inblob": None, "privlevel": self.privlevel_floor}
        (path / "generation").write_text("0\n")
        (path / "provider").write_text(self.provider + "\n")

    def rmdir(self, path: Path) -> None:
        self._maybe_fail("rmdir", path)
        shutil.rmtree(path)
        self.removed.append(path)

    def exists(self, path: Path) -> bool:
        return path.is_dir()

    def bump(self, entry: Path) -> None:
        """One write to the entry: what any writer (ours or a racing one) causes."""
        state = self.state[entry]
        state["generation"] = int(str(state["generation"])) + 1
        (entry / "generation").write_text(f"{state['generation']}\n")
        inblob = state["inblob"]
        if isinstance(inblob, bytes):
            privlevel = int(str(state["privlevel"]))
            (entry / "outblob").write_bytes(self.make_outblob(inblob, privlevel))
            if self.auxblob is not None:
                (entry / "auxblob").write_bytes(self.auxblob)

    def write(self, path: Path, data: bytes) -> None:
        self._maybe_fail("write", path)
        entry, attr = path.parent, path.name
        state = self.state[entry]
        self.writes.append((attr, data))
        if attr == "inblob":
            if len(data) > 64:
                raise OSError(errno.EINVAL, "inblob too large", str(path))
            state["inblob"] = bytes(data)
        elif attr == "privlevel":
            level = int(data.decode())
            if not self.privlevel_floor <= level <= 3:
                raise OSError(errno.EINVAL, "privlevel out of range", str(path))
            state["privlevel"] = level
        else:
            raise OSError(errno.EACCES, "read-only attribute", str(path))
        self.bump(entry)
        if self.after_write is not None:
            self.after_write(entry)

    def read(self, path: Path) -> bytes:
        self._maybe_fail("read", path)
        if self.before_read is not None:
            self.before_read(path)
        return path.read_bytes()


@pytest.fixture(scope="module")
def tdx_template(testdata: Path) -> bytes:
    return (testdata / "tdx" / "dcap-qvl" / "sample" / "tdx_quote").read_bytes()


def snp_outblob(template: bytes) -> Callable[[bytes, int], bytes]:
    def make(inblob: bytes, privlevel: int) -> bytes:
        report = bytearray(template)
        report[SNP_REPORT_DATA : SNP_REPORT_DATA + 64] = inblob.ljust(64, b"\0")
        report[SNP_VMPL : SNP_VMPL + 4] = privlevel.to_bytes(4, "little")
        return bytes(report)

    return make


def tdx_outblob(template: bytes, padding: int = 0) -> Callable[[bytes, int], bytes]:
    def make(inblob: bytes, privlevel: int) -> bytes:
        quote = bytearray(template)
        quote[TDX_V4_REPORT_DATA : TDX_V4_REPORT_DATA + 64] = inblob.ljust(64, b"\0")
        return bytes(quote) + bytes(padding)

    return make


@pytest.fixture
def snp_tsm(tmp_path: Path, milan_report: bytes, milan_chain: dict[CertRole, bytes]) -> FakeTsm:
    blob = build_cert_table(milan_chain, pad_to=16384)
    return FakeTsm(tmp_path / "tsm" / "report", "sev_guest", snp_outblob(milan_report), blob)


@pytest.fixture
def tdx_tsm(tmp_path: Path, tdx_template: bytes) -> FakeTsm:
    return FakeTsm(tmp_path / "tsm" / "report", "tdx_guest", tdx_outblob(tdx_template), None)


REPORT_DATA = bytes(range(64))


def test_snp_report_and_certificates(snp_tsm: FakeTsm, milan_chain: dict[CertRole, bytes]) -> None:
    provider = ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm)
    evidence = provider.get_evidence(REPORT_DATA)
    assert evidence.kind == "sev-snp" and not evidence.simulated
    report = parse_report(evidence.report)
    assert report.report_data == REPORT_DATA
    assert report.vmpl == 0
    assert evidence.certificates == (
        milan_chain[CertRole.VCEK],
        milan_chain[CertRole.ASK],
        milan_chain[CertRole.ARK],
    )
    assert snp_tsm.writes == [("inblob", REPORT_DATA)]
    assert len(snp_tsm.created) == 1 and snp_tsm.removed == snp_tsm.created
    assert snp_tsm.created[0].parent == snp_tsm.root
    assert list(snp_tsm.root.iterdir()) == []
    assert provider.name == "configfs-tsm" and str(snp_tsm.root) in provider.describe()


def test_privlevel_is_written_and_checked(snp_tsm: FakeTsm) -> None:
    provider = ConfigfsTsmProvider(snp_tsm.root, privlevel=2, fs=snp_tsm)
    evidence = provider.get_evidence(REPORT_DATA)
    assert parse_report(evidence.report).vmpl == 2
    assert snp_tsm.writes == [("privlevel", b"2\n"), ("inblob", REPORT_DATA)]


def test_privlevel_below_floor_is_rejected_by_the_kernel(snp_tsm: FakeTsm) -> None:
    snp_tsm.privlevel_floor = 2
    provider = ConfigfsTsmProvider(snp_tsm.root, privlevel=0, fs=snp_tsm)
    with pytest.raises(ProviderError) as info:
        provider.get_evidence(REPORT_DATA)
    assert "privlevel_floor" in (info.value.hint or "")
    assert snp_tsm.removed == snp_tsm.created


def test_each_request_uses_a_fresh_entry(snp_tsm: FakeTsm) -> None:
    provider = ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm)
    first = provider.get_evidence(REPORT_DATA)
    second = provider.get_evidence(bytes(64))
    assert parse_report(second.report).report_data == bytes(64)
    assert first.report != second.report
    assert len(set(snp_tsm.created)) == 2


def test_empty_or_absent_auxblob_means_no_certificates(tmp_path: Path, milan_report: bytes) -> None:
    for aux in (b"", None):
        tsm = FakeTsm(tmp_path / str(aux), "sev_guest", snp_outblob(milan_report), aux)
        evidence = ConfigfsTsmProvider(tsm.root, fs=tsm).get_evidence(REPORT_DATA)
        assert evidence.certificates == ()


def test_tdx_quote(tdx_tsm: FakeTsm) -> None:
    evidence = ConfigfsTsmProvider(tdx_tsm.root, fs=tdx_tsm).get_evidence(REPORT_DATA)
    assert evidence.kind == "tdx" and evidence.certificates == ()
    assert parse_quote(evidence.report).body.report_data == REPORT_DATA


def test_tdx_quote_zero_padding_is_trimmed(tmp_path: Path, tdx_template: bytes) -> None:
    tsm = FakeTsm(tmp_path, "tdx_guest", tdx_outblob(tdx_template, padding=512), None)
    evidence = ConfigfsTsmProvider(tsm.root, fs=tsm).get_evidence(REPORT_DATA)
    quote_size = len(parse_quote(tdx_template).raw)
    assert quote_size < len(tdx_template) + 512
    assert evidence.report == tdx_outblob(tdx_template)(REPORT_DATA, 0)[:quote_size]


def test_generation_race_is_retryable(snp_tsm: FakeTsm) -> None:
    def other_writer(path: Path) -> None:
        if path.name == "outblob":
            snp_tsm.state[path.parent]["inblob"] = b"\xee" * 64
            snp_tsm.bump(path.parent)

    snp_tsm.before_read = other_writer
    provider = ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm)
    with pytest.raises(ProviderError) as info:
        provider.get_evidence(REPORT_DATA)
    assert info.value.retryable
    assert "generation" in info.value.message
    assert snp_tsm.removed == snp_tsm.created

    snp_tsm.before_read = None
    assert parse_report(provider.get_evidence(REPORT_DATA).report).report_data == REPORT_DATA


def test_race_after_outblob_read_is_detected(snp_tsm: FakeTsm) -> None:
    def late_writer(path: Path) -> None:
        if path.name == "provider" and (path.parent / "outblob").exists():
            snp_tsm.bump(path.parent)

    snp_tsm.before_read = late_writer
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm).get_evidence(REPORT_DATA)
    assert info.value.retryable


@pytest.mark.parametrize(
    ("op", "attr", "code", "retryable", "hint_word"),
    [
        ("read", "outblob", errno.EBUSY, True, "retry"),
        ("read", "outblob", errno.ENXIO, False, "driver"),
        ("read", "outblob", errno.EIO, False, "QGS"),
        ("read", "outblob", errno.EFBIG, False, "kernel"),
        ("write", "inblob", errno.EACCES, False, "root"),
        ("read", "provider", errno.ENXIO, False, "driver"),
        ("read", "generation", errno.EAGAIN, True, "retry"),
    ],
)
def test_os_errors_become_provider_errors(
    snp_tsm: FakeTsm, op: str, attr: str, code: int, retryable: bool, hint_word: str
) -> None:
    snp_tsm.errors[(op, attr)] = code
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm).get_evidence(REPORT_DATA)
    assert info.value.retryable is retryable
    assert hint_word in (info.value.hint or "")
    assert os.strerror(code) in info.value.message
    assert snp_tsm.removed == snp_tsm.created


def test_mkdir_failures(snp_tsm: FakeTsm) -> None:
    provider = ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm)
    original = snp_tsm.mkdir

    def failing_mkdir(path: Path) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    snp_tsm.mkdir = failing_mkdir  # type: ignore[method-assign]
    with pytest.raises(ProviderError) as info:
        provider.get_evidence(REPORT_DATA)
    assert "root" in (info.value.hint or "") and not info.value.retryable

    def existing(path: Path) -> None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))

    snp_tsm.mkdir = existing  # type: ignore[method-assign]
    with pytest.raises(ProviderError) as info:
        provider.get_evidence(REPORT_DATA)
    assert info.value.retryable
    snp_tsm.mkdir = original  # type: ignore[method-assign]


def test_rmdir_failure_does_not_hide_the_first_error(snp_tsm: FakeTsm) -> None:
    snp_tsm.errors[("read", "outblob")] = errno.EIO
    original = snp_tsm.rmdir

    def failing_rmdir(path: Path) -> None:
        original(path)
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))

    snp_tsm.rmdir = failing_rmdir  # type: ignore[method-assign]
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm).get_evidence(REPORT_DATA)
    assert "outblob" in info.value.message


def test_unknown_provider(tmp_path: Path, milan_report: bytes) -> None:
    tsm = FakeTsm(tmp_path, "arm_cca_guest", snp_outblob(milan_report), None)
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(tsm.root, fs=tsm).get_evidence(REPORT_DATA)
    assert "arm_cca_guest" in info.value.message and not info.value.retryable


def test_probe(snp_tsm: FakeTsm, tdx_tsm: FakeTsm) -> None:
    assert ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm).probe() == "sev-snp"
    assert snp_tsm.removed == snp_tsm.created
    assert ConfigfsTsmProvider(tdx_tsm.root, fs=tdx_tsm).probe() == "tdx"


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda blob, _: blob[:-1], "1183 bytes"),
        (
            lambda blob, _: blob[:SNP_REPORT_DATA] + bytes(64) + blob[SNP_REPORT_DATA + 64 :],
            "REPORT_DATA",
        ),
        (lambda blob, _: blob[:SNP_VMPL] + b"\x03\0\0\0" + blob[SNP_VMPL + 4 :], "VMPL 3"),
    ],
)
def test_malformed_snp_outblob(
    tmp_path: Path, milan_report: bytes, mutate: Callable[[bytes, int], bytes], words: str
) -> None:
    make = snp_outblob(milan_report)
    tsm = FakeTsm(tmp_path, "sev_guest", lambda i, p: mutate(make(i, p), p), None)
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(tsm.root, privlevel=0, fs=tsm).get_evidence(REPORT_DATA)
    assert words in info.value.message


def test_malformed_auxblob(tmp_path: Path, milan_report: bytes) -> None:
    bad = build_cert_table({CertRole.VCEK: b"\x30\x00"})[:-1] + b"\xff" * 8
    bad = bad[:16] + (4096).to_bytes(4, "little") + bad[20:]
    tsm = FakeTsm(tmp_path, "sev_guest", snp_outblob(milan_report), bad)
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(tsm.root, fs=tsm).get_evidence(REPORT_DATA)
    assert "certificate table" in info.value.message


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda q: q[:100], "malformed TDX quote"),
        (lambda q: q + b"junk", "unexpected bytes"),
        (
            lambda q: q[:TDX_V4_REPORT_DATA] + bytes(64) + q[TDX_V4_REPORT_DATA + 64 :],
            "REPORT_DATA",
        ),
    ],
)
def test_malformed_tdx_outblob(
    tmp_path: Path, tdx_template: bytes, make: Callable[[bytes], bytes], words: str
) -> None:
    good = tdx_outblob(tdx_template)
    tsm = FakeTsm(tmp_path, "tdx_guest", lambda i, p: make(good(i, p)), None)
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(tsm.root, fs=tsm).get_evidence(REPORT_DATA)
    assert words in info.value.message


def test_garbage_generation(snp_tsm: FakeTsm) -> None:
    def corrupt(path: Path) -> None:
        if path.name == "generation":
            path.write_text("lots\n")

    snp_tsm.before_read = corrupt
    with pytest.raises(ProviderError) as info:
        ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm).get_evidence(REPORT_DATA)
    assert "lots" in info.value.message


@pytest.mark.parametrize("bad", [b"", bytes(63), bytes(65), "x" * 64])
def test_report_data_must_be_64_bytes(snp_tsm: FakeTsm, bad: object) -> None:
    with pytest.raises(ProviderError):
        ConfigfsTsmProvider(snp_tsm.root, fs=snp_tsm).get_evidence(bad)  # type: ignore[arg-type]
    assert snp_tsm.created == []


def test_privlevel_range() -> None:
    with pytest.raises(ProviderError):
        ConfigfsTsmProvider(Path("/nonexistent"), privlevel=4)


def test_missing_root_with_real_filesystem(tmp_path: Path) -> None:
    provider = ConfigfsTsmProvider(tmp_path / "no" / "tsm")
    assert not provider.available()
    with pytest.raises(ProviderError) as info:
        provider.get_evidence(REPORT_DATA)
    assert "6.7" in (info.value.hint or "")


def test_os_filesystem_primitives(tmp_path: Path) -> None:
    fs = OsTsmFilesystem()
    entry = tmp_path / "entry"
    fs.mkdir(entry)
    assert fs.exists(entry)
    (entry / "inblob").touch()
    fs.write(entry / "inblob", REPORT_DATA)
    assert fs.read(entry / "inblob") == REPORT_DATA
    (entry / "inblob").unlink()
    fs.rmdir(entry)
    assert not fs.exists(entry)
