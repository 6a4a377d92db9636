// Barretenberg (bb.js 0.82.2) through its low-level API, without the work UltraHonkBackend redoes
// on every call: it rebuilds the circuit to size it, decompresses the wasm with a JavaScript
// gunzip, and computes the verification key again after proving and before verifying. Here the
// circuit size and the verification key come from the committed artefacts, the wasm is
// decompressed natively once per installation and compiled once per process, proving runs on a
// worker with `threads` threads, and verifying runs single-threaded on the main thread (no
// worker start-up).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { proxy } from 'comlink';
import { Barretenberg, BarretenbergSync, RawBuffer } from '@aztec/bb.js';
import { CIRCUITS_DIR } from './artifacts.mjs';

// bb.js's internals that its package exports do not expose, by path in circuits/node_modules
// (where the bare imports above resolve too); import.meta.resolve needs Node >= 20.6.
const BB_INDEX = pathToFileURL(join(CIRCUITS_DIR, 'node_modules/@aztec/bb.js/dest/node/index.js'));
const deep = (path) => import(new URL(path, BB_INDEX).href);
const { BarretenbergWasmMain } = await deep('./barretenberg_wasm/barretenberg_wasm_main/index.js');
const { createMainWorker } = await deep('./barretenberg_wasm/barretenberg_wasm_main/factory/node/index.js');
const { getRemoteBarretenbergWasm } = await deep('./barretenberg_wasm/helpers/node/index.js');

const WASM_GZ = fileURLToPath(new URL('./barretenberg_wasm/barretenberg-threads.wasm.gz', BB_INDEX));
const PROOF_SIZE_PREFIX = 4; // acir_prove_ultra_honk prefixes the proof with its size in fields
const FIELD_BYTES = 32;

let compiled;

/**
 * bb.js's wasm, decompressed: gunzip costs ~40 ms a process, so the first run keeps the result in
 * circuits/node_modules/.cairn-wasm/, named by the SHA-256 of the .gz it came from (a new bb.js
 * gets a new name). It lives in node_modules because it is trusted exactly as node_modules is:
 * whoever can write it can rewrite bb.js itself; created without group/other write bits. Where
 * node_modules is not writable, every run decompresses.
 */
function wasmBytes() {
  const gz = readFileSync(WASM_GZ);
  const name = `${createHash('sha256').update(gz).digest('hex')}.wasm`;
  const kept = join(CIRCUITS_DIR, 'node_modules', '.cairn-wasm', name);
  try {
    return readFileSync(kept);
  } catch {
    // not kept yet (or unreadable): decompress, and keep it if node_modules is writable
  }
  const wasm = gunzipSync(gz);
  const partial = `${kept}.${process.pid}.partial`;
  try {
    mkdirSync(dirname(kept), { recursive: true, mode: 0o755 });
    writeFileSync(partial, wasm, { mode: 0o644, flag: 'wx' });
    renameSync(partial, kept); // whole or not at all
  } catch {
    // read-only node_modules, or another run writing it: decompress again next time
  }
  return wasm;
}

/** The bb wasm module, compiled once per process (lazily: V8 compiles functions on first use). */
function wasmModule() {
  compiled ??= WebAssembly.compile(wasmBytes());
  return compiled;
}

/** Threads to prove with: `requested` if positive, else every core (bb.js caps it at 32). */
export function proverThreads(requested) {
  return requested > 0 ? Math.min(requested, 32) : Math.min(cpus().length, 32);
}

/** A multi-threaded Barretenberg on a worker, as Barretenberg.new builds it. */
async function threadedApi(threads) {
  const worker = createMainWorker();
  const wasm = getRemoteBarretenbergWasm(worker);
  await wasm.init(await wasmModule(), threads, proxy(() => {}));
  return new Barretenberg(worker, wasm, { threads });
}

/** A single-threaded Barretenberg on this thread (synchronous calls). */
async function syncApi() {
  const wasm = new BarretenbergWasmMain();
  await wasm.init(await wasmModule(), 1, () => {});
  return new BarretenbergSync(wasm);
}

/** Start building a prover now (overlaps with witness generation); `await` it to use it. */
export function startProver(threads) {
  return threadedApi(threads);
}

/**
 * Prove `witness` (gzipped, as noir_js returns it) for `bytecode` (ungzipped ACIR) of a circuit
 * with `size` rows and `publicCount` public inputs, with G1 points `g1` (size + 1 of them).
 * Returns {publicInputs: [0x-hex], proof: Uint8Array}.
 */
export async function prove(apiPromise, { bytecode, size, publicCount, g1, g2, witness }) {
  const api = await apiPromise;
  try {
    await api.srsInitSrs(new RawBuffer(g1), size + 1, new RawBuffer(g2));
    const raw = await api.acirProveUltraHonk(bytecode, false, gunzipSync(witness));
    return splitProof(raw, publicCount);
  } finally {
    await api.destroy();
  }
}

/** The verification key for `bytecode` with the given CRS points (size + 1 G1 points). */
export async function verificationKey({ bytecode, size, g1, g2, threads }) {
  const api = await threadedApi(threads);
  try {
    await api.srsInitSrs(new RawBuffer(g1), size + 1, new RawBuffer(g2));
    return await api.acirWriteVkUltraHonk(bytecode, false);
  } finally {
    await api.destroy();
  }
}

/** Circuit size as bb computes it: {gates, subgroup_size}. */
export async function circuitSizes(bytecode) {
  const api = await syncApi();
  const [gates, size] = api.acirGetCircuitSizes(bytecode, false, true);
  return { gates, subgroup_size: size };
}

/**
 * A verifier for proofs against `vk` (bytes) with the CRS's [1]G1 and [x]G2 only.
 * `verify({publicInputs, proof})` returns true or false (a malformed proof is false).
 */
export async function makeVerifier({ vk, g1Generator, g2 }) {
  const api = await syncApi();
  api.srsInitSrs(new RawBuffer(g1Generator), 1, new RawBuffer(g2));
  const key = new RawBuffer(vk);
  return {
    verify({ publicInputs, proof }) {
      try {
        return api.acirVerifyUltraHonk(joinProof(publicInputs, proof), key) === true;
      } catch {
        return false;
      }
    },
  };
}

function splitProof(raw, publicCount) {
  const body = raw.subarray(PROOF_SIZE_PREFIX);
  const inputs = [];
  for (let i = 0; i < publicCount; i++) {
    const bytes = body.subarray(i * FIELD_BYTES, (i + 1) * FIELD_BYTES);
    inputs.push('0x' + Buffer.from(bytes).toString('hex'));
  }
  return { publicInputs: inputs, proof: new Uint8Array(body.subarray(publicCount * FIELD_BYTES)) };
}

function joinProof(publicInputs, proof) {
  const fields = publicInputs.length + proof.length / FIELD_BYTES;
  const out = new Uint8Array(PROOF_SIZE_PREFIX + publicInputs.length * FIELD_BYTES + proof.length);
  new DataView(out.buffer).setUint32(0, fields, false);
  publicInputs.forEach((hex, i) => out.set(Buffer.from(hex.slice(2), 'hex'), PROOF_SIZE_PREFIX + i * FIELD_BYTES));
  out.set(proof, PROOF_SIZE_PREFIX + publicInputs.length * FIELD_BYTES);
  return out;
}
