"""The INSECURE development CRS: BN254 powers of a fixed, published tau, for offline tests.

Proving with barretenberg needs a structured reference string ``[tau^i]G1`` (i < n) and
``[tau]G2``. The real one comes from Aztec's Ignition ceremony, where nobody knows tau; it cannot
be downloaded on an offline machine. This module writes one with ``tau = DEV_TAU = 3``. Anyone
who knows tau can forge proofs, so such a CRS only shows that the pipeline works: the driver
refuses it unless ``--insecure-dev-crs`` is given and marks every proof made with it.

Layout (what bb.js 0.82.2 reads from a directory): ``bn254_g1.dat`` is n affine points, each
``x || y`` as 32-byte big-endian integers; ``bn254_g2.dat`` is ``x.c0 || x.c1 || y.c0 || y.c1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from ..errors import SetupError, UsageError
from .progress import Progress

DEV_TAU: Final = 3
"""The published secret of the development CRS (small, so generation is fast)."""

DEFAULT_POINTS: Final = (1 << 17) + 1
"""G1 points needed by a circuit of up to 2^17 gates (bb asks for size + 1)."""

MAX_POINTS: Final = (1 << 20) + 1
MARKER: Final = "CAIRN-INSECURE-DEV-CRS.json"

Q: Final = 21888242871839275222246405745257275088696311157297823662689037894645226208583
"""The BN254 base field modulus."""

G2_X: Final = (
    10857046999023057135944570762232829481370756359578518086990519993285655852781,
    11559732032986387107991004021392285783925812861821192530917403151452391805634,
)
G2_Y: Final = (
    8495653923123431417604973247489272438418190587263600148770280649306958101930,
    4082367875863433681332203403145435568316851327593401208105741076214120093531,
)

Fp2 = tuple[int, int]
_COMPONENT: Final = "zk-dev-crs"


def _f2_mul(a: Fp2, b: Fp2) -> Fp2:
    return (a[0] * b[0] - a[1] * b[1]) % Q, (a[0] * b[1] + a[1] * b[0]) % Q


def _f2_inv(a: Fp2) -> Fp2:
    norm_inv = pow(a[0] * a[0] + a[1] * a[1], -1, Q)
    return a[0] * norm_inv % Q, -a[1] * norm_inv % Q


def _f2_sub(a: Fp2, b: Fp2) -> Fp2:
    return (a[0] - b[0]) % Q, (a[1] - b[1]) % Q


def _g2_add(p: tuple[Fp2, Fp2], q: tuple[Fp2, Fp2]) -> tuple[Fp2, Fp2]:
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        x_sq = _f2_mul(x1, x1)
        slope = _f2_mul((3 * x_sq[0] % Q, 3 * x_sq[1] % Q), _f2_inv((2 * y1[0], 2 * y1[1])))
    else:
        slope = _f2_mul(_f2_sub(y2, y1), _f2_inv(_f2_sub(x2, x1)))
    x3 = _f2_sub(_f2_sub(_f2_mul(slope, slope), x1), x2)
    return x3, _f2_sub(_f2_mul(slope, _f2_sub(x1, x3)), y1)


def g2_tau() -> tuple[Fp2, Fp2]:
    """``[DEV_TAU]G2`` in affine coordinates."""
    acc = (G2_X, G2_Y)
    for _ in range(DEV_TAU - 1):
        acc = _g2_add(acc, (G2_X, G2_Y))
    return acc


def _jac_double(x: int, y: int, z: int) -> tuple[int, int, int]:
    """Jacobian doubling on y^2 = x^3 + 3 (a = 0)."""
    a = x * x % Q
    b = y * y % Q
    c = b * b % Q
    d = 2 * ((x + b) * (x + b) - a - c) % Q
    e = 3 * a
    x3 = (e * e - 2 * d) % Q
    return x3, (e * (d - x3) - 8 * c) % Q, 2 * y * z % Q


def _jac_add(p: tuple[int, int, int], q: tuple[int, int, int]) -> tuple[int, int, int]:
    """Jacobian addition of two distinct, non-opposite points."""
    x1, y1, z1 = p
    x2, y2, z2 = q
    z1z1, z2z2 = z1 * z1 % Q, z2 * z2 % Q
    u1, u2 = x1 * z2z2 % Q, x2 * z1z1 % Q
    s1, s2 = y1 * z2 * z2z2 % Q, y2 * z1 * z1z1 % Q
    h = u2 - u1
    i = 4 * h * h % Q
    j = h * i % Q
    r = 2 * (s2 - s1)
    v = u1 * i % Q
    x3 = (r * r - j - 2 * v) % Q
    y3 = (r * (v - x3) - 2 * s1 * j) % Q
    z3 = ((z1 + z2) * (z1 + z2) - z1z1 - z2z2) * h % Q
    return x3, y3, z3


def g1_powers(count: int) -> bytes:
    """``[tau^i]G1`` for ``i < count``, serialised as bn254_g1.dat.

    Each point is the previous one times tau in Jacobian coordinates; the points are then made
    affine with one modular inversion per batch (Montgomery's trick).
    """
    jacobian = []
    point = (1, 2, 1)
    for _ in range(count):
        jacobian.append(point)
        acc = point
        for _ in range(DEV_TAU - 1):
            acc = _jac_add(acc, point) if acc is not point else _jac_double(*point)
        point = acc
    prefix = [1] * (count + 1)
    for i, (_, _, z) in enumerate(jacobian):
        prefix[i + 1] = prefix[i] * z % Q
    inv = pow(prefix[count], -1, Q)
    out = [b""] * count
    for i in range(count - 1, -1, -1):
        x, y, z = jacobian[i]
        z_inv = inv * prefix[i] % Q
        inv = inv * z % Q
        z_inv2 = z_inv * z_inv % Q
        ax, ay = x * z_inv2 % Q, y * z_inv2 * z_inv % Q
        out[i] = ax.to_bytes(32, "big") + ay.to_bytes(32, "big")
    return b"".join(out)


def g2_bytes() -> bytes:
    """``[tau]G2`` serialised as bn254_g2.dat."""
    (x0, x1), (y0, y1) = g2_tau()
    return b"".join(v.to_bytes(32, "big") for v in (x0, x1, y0, y1))


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/cairn/zk-dev-crs`` (``~/.cache`` when unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cairn" / "zk-dev-crs"


def ensure_dev_crs(
    directory: Path | None = None,
    points: int = DEFAULT_POINTS,
    progress: Progress | None = None,
) -> Path:
    """Write the development CRS with at least ``points`` G1 points (cached); return its dir."""
    if type(points) is not int or not 2 <= points <= MAX_POINTS:
        raise UsageError(
            f"CRS size must be between 2 and {MAX_POINTS} points, got {points!r}",
            component=_COMPONENT,
        )
    target = default_dir() if directory is None else directory
    g1_path, g2_path = target / "bn254_g1.dat", target / "bn254_g2.dat"
    present = g1_path.is_file() and g2_path.is_file() and (target / MARKER).is_file()
    if present and g1_path.stat().st_size >= 64 * points and g2_path.stat().st_size == 128:
        return target
    if not (target / MARKER).is_file() and (g1_path.exists() or g2_path.exists()):
        raise UsageError(
            f"{target} already holds a CRS that is not the development CRS; not overwriting it",
            component=_COMPONENT,
            hint="choose an empty directory for the development CRS",
        )
    if progress is not None:
        progress.step(f"generating the INSECURE development CRS ({points} points) in {target}")
    marker = {
        "warning": "INSECURE development CRS: tau is public, anyone can forge proofs",
        "tau": DEV_TAU,
        "g1_points": points,
    }
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        for path, data in ((g2_path, g2_bytes()), (g1_path, g1_powers(points))):
            partial = path.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(path)
    except OSError as exc:
        raise SetupError(
            f"cannot write the development CRS to {target}: {exc.strerror or exc}",
            component=_COMPONENT,
            hint="pass a writable directory with --dir (or set XDG_CACHE_HOME)",
        ) from exc
    return target
