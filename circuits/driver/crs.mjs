// Locating and classifying a BN254 CRS directory in the layout bb.js 0.82.2 reads:
// bn254_g1.dat (64-byte affine points, x || y big-endian) and bn254_g2.dat (128 bytes:
// x.c0 || x.c1 || y.c0 || y.c1 big-endian). The Cairn development CRS (tau = DEV_TAU, see
// docs/zk.md) is recognised by its second G1 point, whatever marker files say.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEV_TAU = 3n;
const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

export class CrsError extends Error {}

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

function readPoint(dir, index) {
  const fd = openSync(join(dir, 'bn254_g1.dat'), 'r');
  try {
    const buf = Buffer.alloc(64);
    readSync(fd, buf, 0, 64, index * 64);
    return [BigInt('0x' + buf.subarray(0, 32).toString('hex')), BigInt('0x' + buf.subarray(32).toString('hex'))];
  } finally {
    closeSync(fd);
  }
}

/** Check `dir` holds at least `numPoints` G1 points; refuse the dev CRS unless allowed. */
export function loadCrs(dir, numPoints, allowInsecure) {
  const g1 = join(dir, 'bn254_g1.dat');
  const g2 = join(dir, 'bn254_g2.dat');
  if (!existsSync(g1) || !existsSync(g2)) {
    throw new CrsError(
      `no CRS in ${dir} (bn254_g1.dat and bn254_g2.dat); proving offline needs one: ` +
        'for tests generate the insecure development CRS with `cairn zk dev-crs`',
    );
  }
  const g1Size = statSync(g1).size;
  if (g1Size % 64 !== 0 || g1Size < numPoints * 64 || statSync(g2).size !== 128) {
    throw new CrsError(
      `CRS in ${dir} is too small or malformed: ${g1Size / 64} G1 points, circuit needs ${numPoints}`,
    );
  }
  const first = readPoint(dir, 0);
  if (first[0] !== 1n || first[1] !== 2n) {
    throw new CrsError(`CRS in ${dir} does not start with the BN254 generator`);
  }
  const second = readPoint(dir, 1);
  const devSecond = mul(DEV_TAU, [1n, 2n]);
  const insecure = second[0] === devSecond[0] && second[1] === devSecond[1];
  if (insecure && !allowInsecure) {
    throw new CrsError(
      `${dir} is the INSECURE development CRS (tau = ${DEV_TAU}, anyone can forge proofs); ` +
        'pass --insecure-dev-crs to use it for tests',
    );
  }
  return { dir, insecure };
}
