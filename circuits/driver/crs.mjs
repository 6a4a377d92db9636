// Identifying a BN254 CRS directory in the layout bb.js 0.82.2 reads: bn254_g1.dat (64-byte
// affine points [x^i]G1, x || y big-endian) and bn254_g2.dat (128 bytes [x]G2: x.c0 || x.c1 ||
// y.c0 || y.c1 big-endian).
//
// Exactly two CRSs are known, each pinned by values published for it (docs/zk.md "The CRS"):
//  - Aztec's Ignition CRS: the second G1 point and the G2 point as barretenberg hard-codes them
//    (srs/factories/bn254_crs_data.hpp), and the SHA-256 of the first 8 MiB chunk (2^17 points)
//    of bn254_g1.dat from barretenberg's published chunk hashes (bn254_crs_hashes.hpp).
//  - the Cairn development CRS (tau = 3, INSECURE): its second G1 point [3]G1, its G2 point [3]G2
//    and the SHA-256 of its first 8 MiB chunk (the tests recompute all three from tau).
// Anything else is refused: a CRS whose secret someone knows lets them forge proofs.
//
// inspectCrs reads three points (cheap): enough for verifying, which uses only [1]G1 and [x]G2
// with a pinned verification key. requireG1Prefix hashes the 8 MiB chunk before any G1 point
// is used (proving, deriving a verification key).
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export const CHUNK_POINTS = 131072; // 2^17 points = 8 MiB, the unit of the published hashes
const CHUNK_BYTES = CHUNK_POINTS * 64;
const GENERATOR = '00'.repeat(31) + '01' + '00'.repeat(31) + '02';

/** The pinned values of each known CRS; `insecure` marks the one whose secret is public. */
export const KNOWN_CRS = {
  'aztec-ignition': {
    insecure: false,
    description: 'the Aztec Ignition CRS',
    secondG1:
      '2d360628289ff943ff6bd1a87bbe4e62abe7fb61ba83effd266f22bdcf31e6f9' +
      '26b92a79e563c3f48252cce7feeca2f0f8d33dcb4ef7b0643bf07bd405700aaa',
    g2:
      '0118c4d5b837bcc2bc89b5b398b5974e9f5944073b32078b7e231fec938883b0' +
      '260e01b251f6f1c7e7ff4e580791dee8ea51d87a358e038b4efe30fac09383c1' +
      '22febda3c0c0632a56475b4214e5615e11e6dd3f96e6cea2854a87d4dacc5e55' +
      '04fc6369f7110fe3d25156c1bb9a72859cf2a04641f99ba4ee413c80da6a5fe4',
    chunk0Sha256: '3718ffbed583d8a279ccb2545196d5618e3fd97512b65aa051d2ebd0f57fb999',
  },
  'insecure-dev': {
    insecure: true,
    description: 'the INSECURE Cairn development CRS (tau = 3, anyone can forge proofs)',
    secondG1:
      '0769bf9ac56bea3ff40232bcb1b6bd159315d84715b8e679f2d355961915abf0' +
      '2ab799bee0489429554fdb7c8d086475319e63b40b9c5b57cdf1ff3dd9fe2261',
    g2:
      '06064e784db10e9051e52826e192715e8d7e478cb09a5e0012defa0694fbc7f5' +
      '1014772f57bb9742735191cd5dcfe4ebbc04156b6878a0a7c9824f32ffb66e85' +
      '058e1d5681b5b9e0074b0f9c8d2c68a069b920d74521e79765036d57666c5597' +
      '021e2335f3354bb7922ffcc2f38d3323dd9453ac49b55441452aeaca147711b2',
    chunk0Sha256: '7a80fad20512c42a461401cff23372da9604acd20ac362eca07f2a2ed5c88ef2',
  },
};

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

function readBytes(path, offset, length) {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const got = readSync(fd, buf, 0, length, offset);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * Identify the CRS in `dir` from its first two G1 points and its G2 point:
 * `{dir, name, insecure, points, g2}`. Refuses a missing, malformed or unknown CRS, and the
 * development CRS unless `allowInsecure`.
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
  const head = readBytes(g1, 0, 128).toString('hex');
  if (head.slice(0, 128) !== GENERATOR) {
    throw new CrsError('malformed', `CRS in ${dir} does not start with the BN254 generator (1, 2)`);
  }
  const second = head.slice(128);
  const g2Bytes = readBytes(g2, 0, 128);
  const g2Hex = g2Bytes.toString('hex');
  const entry = Object.entries(KNOWN_CRS).find(([, known]) => known.secondG1 === second);
  if (entry === undefined) {
    throw new CrsError(
      'unknown',
      `${dir} is neither the Aztec Ignition CRS nor the Cairn development CRS: its second G1 ` +
        'point [x]G1 is not one of theirs, so its secret x may be known to someone',
    );
  }
  const [name, known] = entry;
  if (g2Hex !== known.g2) {
    throw new CrsError(
      'unknown',
      `${dir} has the G1 points of ${known.description} but not its G2 point [x]G2 ` +
        '(bn254_g2.dat): proofs checked against it would prove nothing',
    );
  }
  if (known.insecure && !allowInsecure) {
    throw new CrsError('insecure-refused', `${dir} is ${known.description}`);
  }
  return { dir, name, insecure: known.insecure, points: g1Size / 64, g2: new Uint8Array(g2Bytes) };
}

/**
 * The first `numPoints` G1 points, after checking the first 8 MiB chunk against the pinned
 * hash (so the CRS needs at least 2^17 points, whatever the circuit size).
 */
export function requireG1Prefix(crs, numPoints) {
  const needed = Math.max(numPoints, CHUNK_POINTS);
  if (crs.points < needed) {
    throw new CrsError(
      'too-small',
      `CRS in ${crs.dir} has ${crs.points} G1 points; Cairn needs the first ${needed} ` +
        `(bn254_g1.dat of at least ${needed * 64} bytes), whose SHA-256 it checks`,
    );
  }
  const data = readBytes(join(crs.dir, 'bn254_g1.dat'), 0, needed * 64);
  const digest = createHash('sha256').update(data.subarray(0, CHUNK_BYTES)).digest('hex');
  const known = KNOWN_CRS[crs.name];
  if (digest !== known.chunk0Sha256) {
    throw new CrsError(
      'unknown',
      `${crs.dir}/bn254_g1.dat starts like ${known.description} but its first 8 MiB ` +
        `(${CHUNK_POINTS} points) have SHA-256 ${digest}, not the published ${known.chunk0Sha256}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, numPoints * 64);
}
