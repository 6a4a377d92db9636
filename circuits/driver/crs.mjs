// Locating and classifying a BN254 CRS directory in the layout bb.js 0.82.2 reads:
// bn254_g1.dat (64-byte affine points, x || y big-endian) and bn254_g2.dat (128 bytes:
// x.c0 || x.c1 || y.c0 || y.c1 big-endian).
//
// Two CRSs are accepted (docs/zk.md "The CRS"):
//  - Aztec's Ignition CRS: bn254_g2.dat must be Ignition's [x]G2 (IGNITION_G2_HEX, the point every
//    barretenberg release embeds) and the first G1 point the generator.
//  - the Cairn development CRS (tau = DEV_TAU), recognised by its second G1 point whatever marker
//    files say, and refused unless the caller allows it.
// Anything else is refused: a CRS whose secret someone knows lets them forge proofs.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEV_TAU = 3n;
const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

/** bn254_g2.dat of Aztec's Ignition ceremony: [x]G2, x.c0 || x.c1 || y.c0 || y.c1. */
export const IGNITION_G2_HEX =
  '0118c4d5b837bcc2bc89b5b398b5974e9f5944073b32078b7e231fec938883b0' +
  '260e01b251f6f1c7e7ff4e580791dee8ea51d87a358e038b4efe30fac09383c1' +
  '22febda3c0c0632a56475b4214e5615e11e6dd3f96e6cea2854a87d4dacc5e55' +
  '04fc6369f7110fe3d25156c1bb9a72859cf2a04641f99ba4ee413c80da6a5fe4';

/**
 * Why a CRS was refused. `reason` is one of: missing, malformed, unknown, too-small,
 * insecure-refused (the caller maps them onto its own error categories).
 */
export class CrsError extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

function mod(a) {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function inv(a) {
  // Fermat inversion (P is prime).
  let result = 1n;
  let base = mod(a);
  let e = P - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % P;
    base = (base * base) % P;
    e >>= 1n;
  }
  return result;
}

function add(p, q) {
  const [x1, y1] = p;
  const [x2, y2] = q;
  const l = x1 === x2 ? mod(3n * x1 * x1 * inv(2n * y1)) : mod((y2 - y1) * inv(x2 - x1));
  const x3 = mod(l * l - x1 - x2);
  return [x3, mod(l * (x1 - x3) - y1)];
}

function mul(k, point) {
  let acc = null;
  let base = point;
  while (k > 0n) {
    if (k & 1n) acc = acc === null ? base : add(acc, base);
    base = add(base, base);
    k >>= 1n;
  }
  return acc;
}

function readBytes(path, offset, length) {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function readPoint(dir, index) {
  const buf = readBytes(join(dir, 'bn254_g1.dat'), index * 64, 64);
  return [BigInt('0x' + buf.subarray(0, 32).toString('hex')), BigInt('0x' + buf.subarray(32).toString('hex'))];
}

/**
 * Classify the CRS in `dir` without knowing the circuit size: `{dir, insecure, points}`.
 * Refuses a missing, malformed or unknown CRS, and the development CRS unless `allowInsecure`.
 */
export function inspectCrs(dir, allowInsecure) {
  const g1 = join(dir, 'bn254_g1.dat');
  const g2 = join(dir, 'bn254_g2.dat');
  const missing = [g1, g2].filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new CrsError('missing', `no CRS in ${dir}: ${missing.join(' and ')} missing`);
  }
  const g1Size = statSync(g1).size;
  const g2Size = statSync(g2).size;
  if (g1Size % 64 !== 0 || g1Size < 128 || g2Size !== 128) {
    throw new CrsError(
      'malformed',
      `CRS in ${dir} is malformed: bn254_g1.dat is ${g1Size} bytes (64 per point, at least 2 ` +
        `points), bn254_g2.dat is ${g2Size} bytes (must be 128)`,
    );
  }
  const first = readPoint(dir, 0);
  if (first[0] !== 1n || first[1] !== 2n) {
    throw new CrsError('malformed', `CRS in ${dir} does not start with the BN254 generator`);
  }
  const second = readPoint(dir, 1);
  const devSecond = mul(DEV_TAU, [1n, 2n]);
  const insecure = second[0] === devSecond[0] && second[1] === devSecond[1];
  if (insecure && !allowInsecure) {
    throw new CrsError(
      'insecure-refused',
      `${dir} is the INSECURE development CRS (tau = ${DEV_TAU}, anyone can forge proofs)`,
    );
  }
  if (!insecure && readBytes(g2, 0, 128).toString('hex') !== IGNITION_G2_HEX) {
    throw new CrsError(
      'unknown',
      `${dir} is neither the Aztec Ignition CRS nor the Cairn development CRS: bn254_g2.dat is ` +
        "not Ignition's [x]G2",
    );
  }
  return { dir, insecure, points: g1Size / 64 };
}

/** Refuse a CRS with fewer than `numPoints` G1 points (bb asks for circuit size + 1). */
export function requirePoints(crs, numPoints) {
  if (crs.points < numPoints) {
    throw new CrsError(
      'too-small',
      `CRS in ${crs.dir} has ${crs.points} G1 points, the circuit needs ${numPoints} ` +
        `(bn254_g1.dat of at least ${numPoints * 64} bytes)`,
    );
  }
  return crs;
}
