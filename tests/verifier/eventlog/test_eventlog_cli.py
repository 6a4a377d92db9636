"""``cairn show eventlog``: the measured boot, the replayed values and every event, as text and
JSON, for a real TPM log and a real dstack TDX log; malformed logs exit 10."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main


def test_a_tpm_log_is_shown_with_its_boot_and_pcrs(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = testdata / "eventlog/keylime/mb_log.b64"
    assert main(["show", "eventlog", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(base64 TCG PC Client event log (crypto-agile))" in out
    assert "decoded only: nothing was verified" in out
    assert "boot application  \\EFI\\centos\\shimx64.efi" in out
    assert (
        "PCR sha256:4      8a2eb1c3b1e3dec41f491ec82ae6a66306fa4dfd4b35589d7f19092b00aef5d8" in out
    )
    assert "[101] PCR 5" in out and "Exit Boot Services Returned with Success" in out

    assert main(["show", "eventlog", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    fields = doc["fields"]
    assert doc["verified"] is False
    assert fields["format"] == "tcg2" and fields["banks"] == ["sha256"]
    assert fields["event_count"] == 102 and len(fields["events"]) == 102
    assert fields["replayed"]["sha256:7"] == (
        "b4d804679133a73c3988362ef234fbf597f0490d1a0cae072949b63a93fb7b39"
    )
    assert fields["summary"]["secure_boot"] is True
    assert {e["verified"] for e in fields["events"]} == {None}  # nothing was compared
    assert fields["events"][4] == {
        "event": 4,
        "register": "PCR 7",
        "type": "EV_EFI_VARIABLE_DRIVER_CONFIG",
        "kind": "Secure Boot variable",
        "detail": "SecureBoot = enabled",
        "verified": None,
    }


def test_a_dstack_log_is_shown_with_its_rtmrs(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = testdata / "eventlog/dstack/tdx-lite-getquote.json"
    assert main(["show", "eventlog", str(path), "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)["fields"]
    assert fields["registers"] == "rtmr"
    assert fields["unreplayable"] == ["sha384:3"]
    assert fields["replayed"]["sha384:2"].startswith("4c1b739ed451a637")


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"[1]", b"{}", b"QUJD"])
def test_malformed_logs_exit_10(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log"
    path.write_bytes(content)
    assert main(["show", "eventlog", str(path), "--json"]) == 10
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] in ("ParseError", "MalformedInputError")
