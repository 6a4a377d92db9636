"""CPU time of one warm GPU report verification against its floor, alternating in one process.

``test_bench_gpu.py`` measures wall time; on a shared machine the CPU time of alternating rounds
(``time.process_time``: ROUNDS × N floors, then N verifications) is the steadier ratio. With
``--fresh-time`` every verification has its own time (as a verifier answering requests has), so
nothing recorded for one time is replayed for the next. Run from the repository root:

    PYTHONPATH=verifier/src python tests/bench/gpu_cpu_ratio.py [--fresh-time]

(docs/performance.md, "NVIDIA GPU: one report, warm").
"""

from __future__ import annotations

import binascii
import dataclasses
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_verifier.ecdsa import raw_to_der
from cairn_verifier.gpu.evidence import DeviceEvidence
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from cairn_verifier.x509.cert import load_certificates

SAMPLE = Path(__file__).resolve().parents[1] / "vectors" / "gpu" / "nvtrust"
NONCE = bytes.fromhex("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb")
ROUNDS, N = 30, 200


def main(fresh_time: bool) -> str:
    report = binascii.unhexlify((SAMPLE / "hopperAttestationReport.txt").read_bytes().strip())
    certificates = load_certificates((SAMPLE / "hopperCertChain.txt").read_bytes())
    device = DeviceEvidence(report, tuple(c.der for c in certificates), "sample")
    request = GpuVerifyRequest(at=datetime(2026, 1, 1, tzinfo=UTC), nonce=NONCE)
    assert verify_gpu_evidence([device], request).ok  # warm-up
    key = certificates[0].public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signature, signed = raw_to_der(report[4021:4117]), report[:4021]
    floors, verifications, step = [], [], 0
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(N):
            key.verify(signature, signed, ec.ECDSA(hashes.SHA384()))
        floors.append((time.process_time() - start) / N)
        requests = [
            dataclasses.replace(request, at=request.at + timedelta(microseconds=step + i))
            if fresh_time
            else request
            for i in range(N)
        ]
        step += N
        start = time.process_time()
        for each in requests:
            verify_gpu_evidence([device], each)
        verifications.append((time.process_time() - start) / N)
    floor, verify = statistics.median(floors), statistics.median(verifications)
    return (
        f"{'fresh time' if fresh_time else 'same time'}: floor {floor * 1e6:.1f} µs, "
        f"verification {verify * 1e6:.1f} µs CPU (medians of {ROUNDS} rounds); ratio median "
        f"{verify / floor:.3f}, min {min(verifications) / min(floors):.3f}"
    )


if __name__ == "__main__":
    print(main("--fresh-time" in sys.argv[1:]))
