"""Progress lines for collateral requests: what Cairn is waiting for, and each retry.

:class:`StreamProgress` implements :class:`~cairn_verifier.collateral.http.FetchProgress` by
writing one line per event to a text stream (standard error in the CLI, which shows it only on a
terminal or with ``--progress``: never on standard output, so ``--json`` stays clean)::

    fetching the Milan VCEK CRL from https://kdsintf.amd.com/vcek/v1/Milan/crl …
    fetching the Milan VCEK CRL from https://kdsintf.amd.com/vcek/…: retry 2/4 in 2 s after HTTP 503

A request is announced only once it has taken ``slow_after`` seconds (0: at once), so fast
fetches print nothing; retries are always announced.
"""

from __future__ import annotations

import threading
from typing import TextIO


class StreamProgress:
    """Writes progress lines to ``stream``; thread-safe (a timer writes the slow-request line)."""

    def __init__(self, stream: TextIO, *, slow_after: float = 1.0):
        self._stream = stream
        self._slow_after = slow_after
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def started(self, what: str, url: str) -> None:
        line = f"fetching {what} from {url} …"
        if self._slow_after <= 0:
            self._write(line)
            return
        timer = threading.Timer(self._slow_after, self._write, args=(line,))
        timer.daemon = True
        with self._lock:
            self._cancel()
            self._timer = timer
        timer.start()

    def finished(self, what: str, url: str) -> None:
        del what, url
        with self._lock:
            self._cancel()

    def retrying(
        self, what: str, url: str, *, attempt: int, attempts: int, delay: float, reason: str
    ) -> None:
        self._write(
            f"fetching {what} from {url}: retry {attempt}/{attempts} in {delay:g} s after {reason}"
        )

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _write(self, line: str) -> None:
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stderr must never fail a verification
