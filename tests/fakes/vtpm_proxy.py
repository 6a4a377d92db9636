"""A fake Azure vTPM: swtpm behind a TPM command proxy that serves one NV index from given bytes.

Azure's vTPM holds the HCL report in an NV index of 2600 bytes; swtpm (libtpms) holds at most
2048 bytes per index (TPM_PT_NV_INDEX_MAX), so the real HCL report cannot be written into it.
This proxy sits between a TCTI (``swtpm:port=P``; control on P+1, as tpm2-tss expects) and a
real swtpm: it answers ``TPM2_NV_ReadPublic`` and ``TPM2_NV_Read`` for the one index from the
recorded bytes, marshalled as a TPM marshals them (TPM 2.0 Part 3, sections 31.6 and 31.13), and
forwards every other command, and the control channel, to swtpm unchanged. The agent's own TPM
stack (tpm2-pytss, ESAPI, the swtpm TCTI) talks to it as to any TPM.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from cairn_agent.swtpm import free_port_pair

TPM_ST_NO_SESSIONS = 0x8001
TPM_ST_SESSIONS = 0x8002
TPM_CC_NV_READ = 0x0000014E
TPM_CC_NV_READ_PUBLIC = 0x00000169
TPM_RC_SUCCESS = 0
TPM_RC_NV_RANGE = 0x146
TPM_ALG_SHA256 = 0x000B
# TPMA_NV: ownerwrite | authwrite | ownerread | authread | written (and an ordinary index)
NV_ATTRIBUTES = (1 << 1) | (1 << 2) | (1 << 17) | (1 << 18) | (1 << 29)
HEADER = struct.Struct(">HII")


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _recv_command(sock: socket.socket) -> bytes | None:
    header = _recv_exactly(sock, HEADER.size)
    if header is None:
        return None
    _, size, _ = HEADER.unpack(header)
    rest = _recv_exactly(sock, size - HEADER.size)
    return None if rest is None else header + rest


@dataclass
class NvIndexProxy:
    """Serves NV index ``index`` with ``content``; everything else goes to swtpm at ``upstream``."""

    upstream: int
    index: int
    content: bytes
    port: int = field(default_factory=free_port_pair)
    served: list[tuple[int, int]] = field(default_factory=list)
    """(offset, size) of every NV_Read the proxy answered."""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def tcti(self) -> str:
        return f"swtpm:port={self.port}"

    # -- TPM responses -------------------------------------------------------------------------

    def _nv_public(self) -> bytes:
        return struct.pack(
            ">IHIHH", self.index, TPM_ALG_SHA256, NV_ATTRIBUTES, 0, len(self.content)
        )

    def _read_public(self) -> bytes:
        public = self._nv_public()
        name = struct.pack(">H", TPM_ALG_SHA256) + hashlib.sha256(public).digest()
        body = struct.pack(">H", len(public)) + public + struct.pack(">H", len(name)) + name
        return HEADER.pack(TPM_ST_NO_SESSIONS, HEADER.size + len(body), TPM_RC_SUCCESS) + body

    def _read(self, command: bytes) -> bytes:
        """NV_Read: authHandle, nvIndex, the authorization area, then size and offset."""
        auth_size = struct.unpack_from(">I", command, 18)[0]
        size, offset = struct.unpack_from(">HH", command, 22 + auth_size)
        if offset + size > len(self.content):
            return HEADER.pack(TPM_ST_NO_SESSIONS, HEADER.size, TPM_RC_NV_RANGE)
        self.served.append((offset, size))
        data = self.content[offset : offset + size]
        parameters = struct.pack(">H", len(data)) + data
        session = struct.pack(">HBH", 0, 0x01, 0)  # empty nonce, continueSession, empty HMAC
        body = struct.pack(">I", len(parameters)) + parameters + session
        return HEADER.pack(TPM_ST_SESSIONS, HEADER.size + len(body), TPM_RC_SUCCESS) + body

    def _answer(self, command: bytes) -> bytes | None:
        """Our response to ``command``, or None to forward it to swtpm."""
        _, _, code = HEADER.unpack_from(command)
        if code == TPM_CC_NV_READ_PUBLIC and command[10:14] == self.index.to_bytes(4, "big"):
            return self._read_public()
        if code == TPM_CC_NV_READ and command[14:18] == self.index.to_bytes(4, "big"):
            return self._read(command)
        return None

    # -- the two channels ----------------------------------------------------------------------

    def _serve_data(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream)) as tpm:
            while not self._stop.is_set():
                command = _recv_command(client)
                if command is None:
                    return
                response = self._answer(command)
                if response is None:
                    tpm.sendall(command)
                    response = _recv_command(tpm)
                    if response is None:
                        return
                client.sendall(response)

    def _serve_control(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream + 1)) as control:
            back = threading.Thread(target=_pipe, args=(control, client), daemon=True)
            back.start()
            _pipe(client, control)
            back.join(5)

    def _accept(self, listener: socket.socket, serve: object) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=serve, args=(client,), daemon=True)  # type: ignore[arg-type]
            thread.start()

    @contextmanager
    def running(self) -> Iterator[NvIndexProxy]:
        for port, serve in ((self.port, self._serve_data), (self.port + 1, self._serve_control)):
            listener = socket.create_server(("127.0.0.1", port))
            self._listeners.append(listener)
            thread = threading.Thread(target=self._accept, args=(listener, serve), daemon=True)
            thread.start()
            self._threads.append(thread)
        try:
            yield self
        finally:
            self._stop.set()
            for listener in self._listeners:
                with suppress(OSError):
                    listener.shutdown(socket.SHUT_RDWR)
                listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
