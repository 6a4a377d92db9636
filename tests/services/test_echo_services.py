"""The echo services (echo-cpp, echo-rust) over TCP, checked with the Python verifier.

The services are built as echo_helpers.py says. Every response signature is
verified with ``cairn_verifier.binding.echo_signature`` (pyca/cryptography underneath) and
compared with signatures Python computes itself (RFC 6979 + low-s), so the C++ and Rust code
and the Python verifier check each other. A missing toolchain fails the tests with an install
hint: it is never a skip.
"""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from echo_helpers import (
    IO_TIMEOUT,
    SERVICES,
    RunningService,
    exchange,
    read_to_eof,
    run_service,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.binding.echo_signature import (
    ECHO_DOMAIN,
    MAX_LINE_BYTES,
    SECP256K1_ORDER,
    EchoResponse,
    echo_digest,
    echo_message,
    parse_echo_response,
    verify_echo_signature,
)
from cairn_verifier.errors import MalformedInputError

# The fixed key of the C++/Rust known-answer tests: bytes 0x01..0x20.
FIXED_KEY = bytes(range(1, 33))
FIXED_PUBLIC_KEY = "0284bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b0"
# RFC 6979 yields a high s for this request; the services must return n - s.
REQ_1_HELLO_SIGNATURE = (
    "ad25991a7c3d67c70883567f430a6307e53dbfc4793b3d8a27ca7a1d5a15a3c7"
    "5a2cb63ffa1e4d77fc3d731a413bbdaf37ba4f791dd6be9e6bb46290a9c105e5"
)


# --- reference signer (independent of the services) ------------------------------------------


def python_signature(secret: bytes, request_id: str, payload: str | bytes) -> bytes:
    """RFC 6979 ECDSA/SHA-256 of the echo message, normalised to low s (what a service sends)."""
    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256K1())
    der = key.sign(
        echo_message(request_id, payload), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    )
    r, s = decode_dss_signature(der)
    s = min(s, SECP256K1_ORDER - s)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def compressed_public_key(secret: bytes) -> bytes:
    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256K1())
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )


# --- echo_signature without any service -------------------------------------------------------


def test_message_layout() -> None:
    assert echo_message("req-1", "hello") == b"cairn-echo-v1\x00\x05req-1hello"
    assert echo_message("a", b"") == ECHO_DOMAIN + b"\x01a"
    assert echo_message("id", "é") == ECHO_DOMAIN + b"\x02id\xc3\xa9"
    assert echo_digest("req-1", "hello").hex() == (
        "b388dd76e61e43e5aae64261a5a1c4d0120f73d3a748a30379d7adca6608ab97"
    )


def test_known_answer_and_low_s_rule() -> None:
    public_key = bytes.fromhex(FIXED_PUBLIC_KEY)
    assert compressed_public_key(FIXED_KEY) == public_key
    signature = bytes.fromhex(REQ_1_HELLO_SIGNATURE)
    assert python_signature(FIXED_KEY, "req-1", "hello") == signature
    assert verify_echo_signature(public_key, "req-1", "hello", signature)
    assert verify_echo_signature(public_key, "req-1", b"hello", signature)

    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    high_s = signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big")
    # The high-s twin is a valid ECDSA signature, but the echo rule refuses it.
    other = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), public_key)
    other.verify(
        encode_dss_signature(r, SECP256K1_ORDER - s),
        echo_message("req-1", "hello"),
        ec.ECDSA(hashes.SHA256()),
    )
    assert not verify_echo_signature(public_key, "req-1", "hello", high_s)

    assert not verify_echo_signature(public_key, "req-1", "hellp", signature)
    assert not verify_echo_signature(public_key, "req-2", "hello", signature)
    assert not verify_echo_signature(
        compressed_public_key(bytes(31) + b"\x02"), "req-1", "hello", signature
    )
    zero_r = bytes(32) + signature[32:]
    zero_s = signature[:32] + bytes(32)
    big_r = SECP256K1_ORDER.to_bytes(32, "big") + signature[32:]
    for bad in (zero_r, zero_s, big_r):
        assert not verify_echo_signature(public_key, "req-1", "hello", bad)


@pytest.mark.parametrize(
    ("request_id", "payload"),
    [
        ("", "x"),
        ("x" * 65, "x"),
        ("bad/id", "x"),
        ("é", "x"),
        ("ok", "two\nlines"),
        ("ok", b"\xff"),
        ("ok", "\ud800"),
        ("ok", "x" * (MAX_LINE_BYTES - 2)),
        ("ok", 5),
    ],
)
def test_message_refuses_what_no_service_signs(request_id: str, payload: Any) -> None:
    with pytest.raises(MalformedInputError):
        echo_message(request_id, payload)


def test_verify_refuses_malformed_keys_and_signatures() -> None:
    public_key = bytes.fromhex(FIXED_PUBLIC_KEY)
    signature = bytes.fromhex(REQ_1_HELLO_SIGNATURE)
    with pytest.raises(MalformedInputError):
        verify_echo_signature(public_key, "req-1", "hello", signature[:63])
    with pytest.raises(MalformedInputError):
        verify_echo_signature(public_key[:32], "req-1", "hello", signature)
    with pytest.raises(MalformedInputError):
        verify_echo_signature(b"\x02" + bytes(32), "req-1", "hello", signature)  # not on curve
    # The uncompressed form of the same key verifies too.
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), public_key)
    uncompressed = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert verify_echo_signature(uncompressed, "req-1", "hello", signature)


def test_parse_echo_response() -> None:
    line = f"OK req-1 68656c6c6f {REQ_1_HELLO_SIGNATURE}\n".encode()
    assert parse_echo_response(line) == EchoResponse(
        "req-1", b"hello", bytes.fromhex(REQ_1_HELLO_SIGNATURE)
    )
    empty = parse_echo_response(f"OK a  {REQ_1_HELLO_SIGNATURE}\n".encode())
    assert empty.payload == b""
    for bad in (
        b"ERR busy\n",
        line[:-1],
        line.upper(),
        f"OK req-1 68656c6c6 {REQ_1_HELLO_SIGNATURE}\n".encode(),
        f"OK req-1 68656c6c6f {REQ_1_HELLO_SIGNATURE[:-2]}\n".encode(),
        f"OK req-1 68656c6c6f {REQ_1_HELLO_SIGNATURE} extra\n".encode(),
        f"OK bad/id 68 {REQ_1_HELLO_SIGNATURE}\n".encode(),
        f"OK req-1 ff {REQ_1_HELLO_SIGNATURE}\n".encode(),
        f"OK req-1 68\t65 {REQ_1_HELLO_SIGNATURE}\n".encode(),
        b"\n",
    ):
        with pytest.raises(MalformedInputError):
            parse_echo_response(bad)


@settings(max_examples=25, deadline=None)
@given(
    secret=st.integers(min_value=1, max_value=SECP256K1_ORDER - 1),
    request_id=st.from_regex(r"\A[A-Za-z0-9._-]{1,64}\Z"),
    payload=st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n"),
        max_size=40,
    ),
)
def test_python_signatures_verify(secret: int, request_id: str, payload: str) -> None:
    key = secret.to_bytes(32, "big")
    signature = python_signature(key, request_id, payload)
    assert int.from_bytes(signature[32:], "big") <= SECP256K1_ORDER // 2
    assert verify_echo_signature(compressed_public_key(key), request_id, payload, signature)


# --- building and running the services --------------------------------------------------------


@pytest.fixture(params=SERVICES)
def service(
    request: pytest.FixtureRequest, binaries: dict[str, Path], tmp_path: Path
) -> Iterator[RunningService]:
    with run_service(binaries[request.param], request.param, tmp_path / "state") as running:
        yield running


def _write_key(state_dir: Path, key: bytes, mode: int = 0o600) -> None:
    state_dir.mkdir(mode=0o700, exist_ok=True)
    path = state_dir / "signing.key"
    path.write_bytes(key)
    path.chmod(mode)


REQUESTS: list[tuple[bytes, str, bytes]] = [
    (b"req-1 hello", "req-1", b"hello"),
    (b"a", "a", b""),
    (b"a ", "a", b""),
    (b"x  two spaces", "x", b" two spaces"),
    (b"cr x\r", "cr", b"x\r"),
    (b"nul a\x00b", "nul", b"a\x00b"),
    ("u.1 héllo wörld ✓ 😀".encode(), "u.1", "héllo wörld ✓ 😀".encode()),
    (b"Z" * 64 + b" 64-char id", "Z" * 64, b"64-char id"),
    (b"max " + b"m" * (MAX_LINE_BYTES - 4), "max", b"m" * (MAX_LINE_BYTES - 4)),
]


# --- the services -----------------------------------------------------------------------------


def test_key_files_and_signed_echoes(service: RunningService) -> None:
    key_path = service.state_dir / "signing.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(service.state_dir.stat().st_mode) == 0o700
    secret = key_path.read_bytes()
    assert len(secret) == 32
    public_key = service.public_key()
    assert public_key == compressed_public_key(secret)

    with service.connect() as conn:
        data = b"".join(line + b"\n" for line, _, _ in REQUESTS)
        responses = exchange(conn, data, len(REQUESTS))
    for (_, request_id, payload), line in zip(REQUESTS, responses, strict=True):
        response = parse_echo_response(line)
        assert (response.request_id, response.payload) == (request_id, payload)
        assert verify_echo_signature(public_key, request_id, payload, response.signature)
        assert response.signature == python_signature(secret, request_id, payload)


def test_known_key_gives_known_answer(binaries: dict[str, Path], tmp_path: Path) -> None:
    for name in SERVICES:
        state_dir = tmp_path / name
        _write_key(state_dir, FIXED_KEY)
        with run_service(binaries[name], name, state_dir) as running:
            assert running.public_key().hex() == FIXED_PUBLIC_KEY
            with running.connect() as conn:
                (line,) = exchange(conn, b"req-1 hello\n", 1)
        assert line == f"OK req-1 68656c6c6f {REQ_1_HELLO_SIGNATURE}\n".encode()


def test_both_services_answer_identically(binaries: dict[str, Path], tmp_path: Path) -> None:
    first = tmp_path / "first"
    with run_service(binaries["echo-rust"], "echo-rust", first):
        pass
    secret = (first / "signing.key").read_bytes()
    requests = (
        [line for line, _, _ in REQUESTS]
        + [
            b"",
            b"bad/id x",
            b"id \xff\xfe",
        ]
        + [f"k{i} payload number {i}".encode() for i in range(20)]
    )
    answers = {}
    with ExitStack() as stack:
        for name in SERVICES:
            state_dir = tmp_path / f"shared-{name}"
            state_dir.mkdir(mode=0o700)
            shutil.copy2(first / "signing.key", state_dir / "signing.key")
            running = stack.enter_context(run_service(binaries[name], name, state_dir))
            assert running.public_key() == compressed_public_key(secret)
            with running.connect() as conn:
                data = b"".join(line + b"\n" for line in requests)
                answers[name] = exchange(conn, data, len(requests))
    assert answers["echo-cpp"] == answers["echo-rust"]
    assert answers["echo-cpp"][len(REQUESTS) : len(REQUESTS) + 3] == [
        b"ERR bad request-id\n",
        b"ERR bad request-id\n",
        b"ERR payload not utf-8\n",
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", b"bad request-id"),
        (b" leading space", b"bad request-id"),
        (b"z" * 65 + b" too long id", b"bad request-id"),
        (b"bad/id x", b"bad request-id"),
        (b"tab\tid x", b"bad request-id"),
        ("é x".encode(), b"bad request-id"),
        (b"id \xff", b"payload not utf-8"),
        (b"id \xc0\xaf", b"payload not utf-8"),
        (b"id \xed\xa0\x80", b"payload not utf-8"),
        (b"id \xf4\x90\x80\x80", b"payload not utf-8"),
        (b"id \xe2\x9c", b"payload not utf-8"),
    ],
)
def test_bad_requests_get_error_lines(service: RunningService, line: bytes, reason: bytes) -> None:
    with service.connect() as conn:
        error, after = exchange(conn, line + b"\nok still-open\n", 2)
    assert error == b"ERR " + reason + b"\n"
    response = parse_echo_response(after)
    assert verify_echo_signature(service.public_key(), "ok", "still-open", response.signature)


@pytest.mark.parametrize("terminated", [True, False])
def test_too_long_line_closes_the_connection(service: RunningService, terminated: bool) -> None:
    with service.connect() as conn:
        conn.sendall(b"ok first\n" + b"x" * (MAX_LINE_BYTES + 1) + (b"\n" if terminated else b""))
        received = read_to_eof(conn)
    first, error, rest = received.split(b"\n", 2)
    assert first.startswith(b"OK ok ")
    assert error == b"ERR line too long"
    assert rest == b""
    # The service keeps serving other connections.
    with service.connect() as conn:
        (line,) = exchange(conn, b"next x\n", 1)
    assert line.startswith(b"OK next 78 ")


def test_unterminated_last_line_is_discarded(service: RunningService) -> None:
    with service.connect() as conn:
        conn.sendall(b"ok done\npartial")
        conn.shutdown(socket.SHUT_WR)
        received = read_to_eof(conn)
    assert received.count(b"\n") == 1
    assert parse_echo_response(received).payload == b"done"


def test_connection_bound(service: RunningService) -> None:
    with ExitStack() as stack:
        held = []
        for i in range(64):
            conn = stack.enter_context(service.connect())
            (line,) = exchange(conn, f"c{i} held\n".encode(), 1)
            assert line.startswith(f"OK c{i} ".encode())
            held.append(conn)
        with service.connect() as refused:
            assert read_to_eof(refused) == b"ERR busy\n"
        held[0].close()
        # The slot is released asynchronously once the service sees the close: retry until then.
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            with service.connect() as conn:
                conn.sendall(b"again x\n")
                answer = conn.makefile("rb").readline()
            if answer != b"ERR busy\n" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert answer.startswith(b"OK again 78 ")


def test_key_persists_across_restarts(binaries: dict[str, Path], tmp_path: Path) -> None:
    for name in SERVICES:
        state_dir = tmp_path / name
        with run_service(binaries[name], name, state_dir) as running:
            first_key = running.public_key()
        secret = (state_dir / "signing.key").read_bytes()
        with run_service(binaries[name], name, state_dir) as running:
            assert running.public_key() == first_key
            with running.connect() as conn:
                response = parse_echo_response(exchange(conn, b"r again\n", 1)[0])
            assert verify_echo_signature(first_key, "r", "again", response.signature)
        assert (state_dir / "signing.key").read_bytes() == secret
        assert stat.S_IMODE((state_dir / "signing.key").stat().st_mode) == 0o600


def _start_failure(binary: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, timeout=IO_TIMEOUT, check=False
    )


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize(
    ("key", "mode", "message"),
    [
        (FIXED_KEY, 0o640, b"group or others"),
        (FIXED_KEY[:31], 0o600, b"exactly 32 bytes"),
        (FIXED_KEY + b"\x00", 0o600, b"exactly 32 bytes"),
        (bytes(32), 0o600, b"not a valid secp256k1 private key"),
        (b"\xff" * 32, 0o600, b"not a valid secp256k1 private key"),
    ],
)
def test_bad_key_files_are_refused(
    binaries: dict[str, Path], tmp_path: Path, name: str, key: bytes, mode: int, message: bytes
) -> None:
    state_dir = tmp_path / "state"
    _write_key(state_dir, key, mode)
    result = _start_failure(
        binaries[name],
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        str(state_dir),
        "--public-key-file",
        str(tmp_path / "key.pub"),
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert (state_dir / "signing.key").read_bytes() == key  # never overwritten
    assert not (tmp_path / "key.pub").exists()


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--listen", "127.0.0.1:0", "--state-dir", "s"],
        ["--listen", "127.0.0.1", "--state-dir", "s", "--public-key-file", "p"],
        ["--listen", "::1:80", "--state-dir", "s", "--public-key-file", "p"],
        ["--listen", "127.0.0.1:0", "--state-dir", "s", "--public-key-file", "p", "--bogus", "1"],
        [
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "s",
            "--public-key-file",
            "p",
            "--max-connections",
            "0",
        ],
        ["--listen"],
    ],
)
def test_usage_errors(
    binaries: dict[str, Path], tmp_path: Path, name: str, args: list[str]
) -> None:
    result = subprocess.run(
        [str(binaries[name]), *args],
        capture_output=True,
        timeout=IO_TIMEOUT,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert b"usage:" in result.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("name", SERVICES)
def test_port_in_use_is_reported(
    binaries: dict[str, Path], service: RunningService, tmp_path: Path, name: str
) -> None:
    result = _start_failure(
        binaries[name],
        "--listen",
        f"127.0.0.1:{service.port}",
        "--state-dir",
        str(tmp_path / "second"),
        "--public-key-file",
        str(tmp_path / "second.pub"),
    )
    assert result.returncode == 1
    assert b"cannot listen on 127.0.0.1:" in result.stderr
