#!/usr/bin/env node
// Cairn zero-knowledge driver: compile, execute, prove and verify the Noir circuits offline.
//
//   cairn-zk.mjs compile [--circuit NAME]                 compile from source (cached)
//   cairn-zk.mjs build --crs DEV_DIR --insecure-dev-crs   rebuild artifacts/ (maintainers)
//   cairn-zk.mjs gates [--circuit NAME]
//   cairn-zk.mjs execute INPUTS.json [--circuit NAME]     (a JSON array: execute each, report all)
//   cairn-zk.mjs prove INPUTS.json --crs DIR [--insecure-dev-crs] [--threads N] -o PROOF.json
//   cairn-zk.mjs verify PROOF.json [PROOF.json ...] --crs DIR [--insecure-dev-crs]
//     (several proofs: one process, one result each; a proof that cannot be read is its own failure)
//   cairn-zk.mjs vk --crs DIR [--insecure-dev-crs] -o FILE  the verification key for that CRS
//   (any command) --progress: report the long steps on stderr as {"progress": "..."} lines
//
// Every command prints one JSON object on stdout. Errors print {"error", "kind"} on stderr (plus
// "reason" for CRS errors: missing, malformed, unknown, too-small, insecure-refused,
// proof-insecure, proof-production) and exit with a code from EXIT below. Only
// noir_wasm/noir_js 1.0.0-beta.3 + bb.js 0.82.2 are supported (see docs/zk.md).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  ArtifactError,
  compileCircuit,
  hasArtifact,
  loadArtifact,
  vkPath,
  writeArtifact,
} from './artifacts.mjs';
import { CrsError, inspectCrs, requireG1Prefix } from './crs.mjs';

export const EXIT = {
  ok: 0,
  invalid: 1, // verify: a proof does not verify
  usage: 2,
  unsatisfied: 3, // execute/prove: the inputs violate a constraint
  input: 4, // unreadable or malformed input file
  crs: 5, // CRS missing, too small or refused
  compile: 6,
  internal: 7,
};

export const PROOF_FORMAT = 'cairn-zk-proof';
export const PROOF_VERSION = 2;
const DEFAULT_CIRCUIT = 'cairn_membership';
const MAX_PROOF_HEX = 64 * 1024;
// secp256k1's group order: ECDSA reduces the message hash modulo n; noir's witness solver
// rejects a hash >= n with a wasm abort, so such a hash is refused up front.
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

class DriverError extends Error {
  constructor(kind, message, reason) {
    super(message);
    this.kind = kind;
    this.reason = reason;
  }
}

let reportProgress = false;

/** One progress line on stderr (only with --progress; the caller shows it on a terminal). */
function progress(message) {
  if (reportProgress) process.stderr.write(JSON.stringify({ progress: message }) + '\n');
}

function parseArgs(argv) {
  const positional = [];
  const options = { circuit: DEFAULT_CIRCUIT, insecureDevCrs: false, threads: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new DriverError('usage', `${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--circuit') options.circuit = value();
    else if (arg === '--crs') options.crs = value();
    else if (arg === '-o' || arg === '--out') options.out = value();
    else if (arg === '--threads') options.threads = Number(value());
    else if (arg === '--insecure-dev-crs') options.insecureDevCrs = true;
    else if (arg === '--progress') reportProgress = true;
    else if (arg.startsWith('-')) throw new DriverError('usage', `unknown option ${arg}`);
    else positional.push(arg);
  }
  if (!/^[a-z_][a-z0-9_]*$/.test(options.circuit)) {
    throw new DriverError('usage', `invalid circuit name ${JSON.stringify(options.circuit)}`);
  }
  if (!Number.isInteger(options.threads) || options.threads < 0) {
    throw new DriverError('usage', '--threads must be a non-negative integer');
  }
  return { positional, options };
}

function readJson(path, what) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DriverError('input', `cannot read ${what} ${path}: ${err.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DriverError('input', `${what} ${path} is not JSON: ${err.message}`);
  }
}

function writeAtomically(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

/** The program of `name`: the committed artefact for proven circuits, else compiled (cached). */
async function program(name) {
  if (hasArtifact(name)) {
    const artifact = loadArtifact(name);
    return { program: artifact.program, artifact };
  }
  return { program: await compileCircuit(name, progress), artifact: null };
}

function provenArtifact(name) {
  if (!hasArtifact(name)) {
    throw new DriverError('usage', `circuit ${name} has no committed artefact to prove or verify with`);
  }
  return loadArtifact(name);
}

function acir(program) {
  return new Uint8Array(gunzipSync(Buffer.from(program.bytecode, 'base64')));
}

async function execute(program, inputs) {
  const { Noir } = await import('@noir-lang/noir_js');
  const noir = new Noir(program);
  try {
    return await noir.execute(inputs);
  } catch (err) {
    const message = String(err?.message ?? err);
    if (/Cannot satisfy constraint|Failed constraint|assert|Circuit execution failed/i.test(message)) {
      throw new DriverError('unsatisfied', message);
    }
    throw new DriverError('input', `cannot execute ${program.noir_version ?? ''} circuit: ${message}`);
  }
}

/** Refuse a response hash that ECDSA would reduce modulo n (see SECP256K1_N). */
function checkResponseHash(inputs) {
  const halves = inputs?.response_hash;
  if (!Array.isArray(halves) || halves.length !== 2) return; // the ABI check reports it
  let value;
  try {
    value = (BigInt(halves[0]) << 128n) + BigInt(halves[1]);
  } catch {
    return;
  }
  if (value >= SECP256K1_N) {
    throw new DriverError(
      'input',
      `the response hash ${value.toString(16).padStart(64, '0')} is not below the secp256k1 ` +
        'group order n; ECDSA signs it reduced modulo n, which this circuit does not model',
    );
  }
}

function crsError(err) {
  return err instanceof CrsError ? new DriverError('crs', err.message, err.reason) : err;
}

function checkCrs(options) {
  if (!options.crs) throw new DriverError('usage', '--crs DIR is required');
  try {
    return inspectCrs(options.crs, options.insecureDevCrs);
  } catch (err) {
    throw crsError(err);
  }
}

function g1Points(crs, count) {
  try {
    return requireG1Prefix(crs, count);
  } catch (err) {
    throw crsError(err);
  }
}

function cacheDir() {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cairn', 'zk-vk');
}

/**
 * The verification key of the artefact for `crs`: the committed one (its hash is pinned by the
 * Python package), else one derived earlier from the same hash-checked CRS (user cache), else
 * derived now from the CRS (its G1 prefix checked against the published hash) and cached.
 */
async function verificationKeyFor(artifact, crs, threads) {
  const committed = vkPath(artifact.circuit, crs.name);
  if (existsSync(committed)) return { vk: readFileSync(committed), source: 'committed' };
  const cached = join(cacheDir(), `${artifact.bytecode_sha256}.${crs.name}.vk`);
  if (existsSync(cached)) return { vk: readFileSync(cached), source: 'cache' };
  progress(`deriving the verification key for ${crs.name} (once; cached in ${cacheDir()})`);
  const backend = await import('./backend.mjs');
  const vk = await backend.verificationKey({
    bytecode: acir(artifact.program),
    size: artifact.circuit_size,
    g1: g1Points(crs, artifact.circuit_size + 1),
    g2: crs.g2,
    threads: backend.proverThreads(threads),
  });
  writeAtomically(cached, vk);
  return { vk: Buffer.from(vk), source: 'derived' };
}

async function commandProve(positional, options) {
  if (positional.length !== 1 || !options.out) {
    throw new DriverError('usage', 'prove INPUTS.json --crs DIR -o PROOF.json');
  }
  const inputs = readJson(positional[0], 'inputs');
  checkResponseHash(inputs);
  const crs = checkCrs(options);
  const artifact = provenArtifact(options.circuit);
  const g1 = g1Points(crs, artifact.circuit_size + 1);
  const backend = await import('./backend.mjs');
  const threads = backend.proverThreads(options.threads);
  const t0 = performance.now();
  const prover = backend.startProver(threads); // wasm start-up overlaps the witness
  prover.catch(() => {});
  progress('generating the witness (noir_js)');
  let witness;
  try {
    ({ witness } = await execute(artifact.program, inputs));
  } catch (err) {
    await (await prover).destroy();
    throw err;
  }
  const t1 = performance.now();
  progress(`proving (bb.js UltraHonk, ${threads} threads, 2^${Math.log2(artifact.circuit_size)} rows)`);
  const proof = await backend.prove(prover, {
    bytecode: acir(artifact.program),
    size: artifact.circuit_size,
    publicCount: artifact.public_inputs,
    g1,
    g2: crs.g2,
    witness,
  });
  const t2 = performance.now();
  const doc = {
    format: PROOF_FORMAT,
    version: PROOF_VERSION,
    circuit: options.circuit,
    bytecode_sha256: artifact.bytecode_sha256,
    crs: crs.name,
    insecure_dev_crs: crs.insecure,
    public_inputs: proof.publicInputs,
    proof: Buffer.from(proof.proof).toString('hex'),
  };
  writeFileSync(options.out, JSON.stringify(doc, null, 1) + '\n');
  return {
    proof: options.out,
    crs: crs.name,
    insecure_dev_crs: crs.insecure,
    threads,
    witness_ms: Math.round(t1 - t0),
    prove_ms: Math.round(t2 - t1),
  };
}

function readProofDoc(path, artifact) {
  const doc = readJson(path, 'proof');
  const fieldHex = /^0x[0-9a-f]{64}$/;
  if (
    doc === null ||
    typeof doc !== 'object' ||
    doc.format !== PROOF_FORMAT ||
    doc.version !== PROOF_VERSION ||
    typeof doc.circuit !== 'string' ||
    typeof doc.insecure_dev_crs !== 'boolean' ||
    !Array.isArray(doc.public_inputs) ||
    doc.public_inputs.length !== artifact.public_inputs ||
    !doc.public_inputs.every((v) => typeof v === 'string' && fieldHex.test(v)) ||
    typeof doc.proof !== 'string' ||
    doc.proof.length > MAX_PROOF_HEX ||
    doc.proof.length % 64 !== 0 ||
    !/^[0-9a-f]*$/.test(doc.proof)
  ) {
    throw new DriverError('input', `${path} is not a ${PROOF_FORMAT} version ${PROOF_VERSION} document`);
  }
  if (doc.circuit !== artifact.circuit) {
    throw new DriverError('input', `${path} is a proof for circuit ${doc.circuit}, not ${artifact.circuit}`);
  }
  return doc;
}

function checkProofCrs(doc, crs, path) {
  if (doc.insecure_dev_crs && !crs.insecure) {
    throw new DriverError(
      'crs',
      `${path} was made with the INSECURE development CRS (tau = 3, anyone can forge such ` +
        'proofs); it cannot be checked against, and proves nothing under, the CRS given',
      'proof-insecure',
    );
  }
  if (!doc.insecure_dev_crs && crs.insecure) {
    throw new DriverError(
      'crs',
      `${path} was made with a production CRS; it must be verified with that CRS, not the ` +
        'development CRS',
      'proof-production',
    );
  }
}

/**
 * The proof documents of `paths`. One proof: any defect is the command's error. Several (a
 * batch): a proof that cannot be read, or was made with the other CRS, becomes a result of its
 * own ({proof, valid: false, error, kind, reason}) and the others are still verified.
 */
function readProofs(paths, artifact, crs) {
  return paths.map((path) => {
    try {
      const doc = readProofDoc(path, artifact);
      checkProofCrs(doc, crs, path);
      return { path, doc };
    } catch (err) {
      if (paths.length === 1 || !(err instanceof DriverError)) throw err;
      return { path, failure: { proof: path, valid: false, error: err.message, kind: err.kind, reason: err.reason } };
    }
  });
}

async function commandVerify(positional, options) {
  if (positional.length < 1) throw new DriverError('usage', 'verify PROOF.json [PROOF.json ...] --crs DIR');
  const artifact = provenArtifact(options.circuit);
  const crs = checkCrs(options);
  const proofs = readProofs(positional, artifact, crs);
  const t0 = performance.now();
  const { vk, source } = await verificationKeyFor(artifact, crs, options.threads);
  const backend = await import('./backend.mjs');
  const generator = readFileSync(join(crs.dir, 'bn254_g1.dat')).subarray(0, 64);
  const verifier = await backend.makeVerifier({ vk, g1Generator: generator, g2: crs.g2 });
  const t1 = performance.now();
  progress(`verifying ${proofs.length} proof(s) (bb.js UltraHonk, verification key: ${source})`);
  const results = proofs.map(({ path, doc, failure }) => {
    if (failure) return failure;
    const start = performance.now();
    const valid =
      doc.bytecode_sha256 === artifact.bytecode_sha256 &&
      verifier.verify({ publicInputs: doc.public_inputs, proof: Buffer.from(doc.proof, 'hex') });
    return {
      proof: path,
      valid,
      bytecode_matches: doc.bytecode_sha256 === artifact.bytecode_sha256,
      public_inputs: doc.public_inputs,
      verify_ms: Math.round((performance.now() - start) * 10) / 10,
    };
  });
  const summary = {
    valid: results.every((r) => r.valid),
    circuit: artifact.circuit,
    bytecode_sha256: artifact.bytecode_sha256,
    vk_sha256: createHash('sha256').update(vk).digest('hex'),
    vk_source: source,
    crs: crs.name,
    insecure_dev_crs: crs.insecure,
    setup_ms: Math.round(t1 - t0),
  };
  return results.length === 1 ? { ...summary, ...results[0] } : { ...summary, results };
}

async function commandVk(options) {
  if (!options.out) throw new DriverError('usage', 'vk --crs DIR -o FILE');
  const crs = checkCrs(options);
  const artifact = provenArtifact(options.circuit);
  const backend = await import('./backend.mjs');
  const vk = await backend.verificationKey({
    bytecode: acir(artifact.program),
    size: artifact.circuit_size,
    g1: g1Points(crs, artifact.circuit_size + 1),
    g2: crs.g2,
    threads: backend.proverThreads(options.threads),
  });
  writeAtomically(options.out, vk);
  return { circuit: artifact.circuit, crs: crs.name, vk: options.out, vk_sha256: createHash('sha256').update(vk).digest('hex') };
}

/** Rebuild artifacts/: compile from source, size with bb, write the artefact and the dev VK. */
async function commandBuild(options) {
  const crs = checkCrs(options);
  if (!crs.insecure) throw new DriverError('usage', 'build derives the development-CRS key: pass its --crs and --insecure-dev-crs');
  const compiled = await compileCircuit(options.circuit, progress);
  const backend = await import('./backend.mjs');
  const sizes = await backend.circuitSizes(acir(compiled));
  const publicCount = compiled.abi.parameters
    .filter((p) => p.visibility === 'public')
    .reduce((n, p) => n + fieldCount(p.type), 0);
  const artifact = writeArtifact(options.circuit, compiled, sizes, publicCount);
  const vk = await backend.verificationKey({
    bytecode: acir(compiled),
    size: artifact.circuit_size,
    g1: g1Points(crs, artifact.circuit_size + 1),
    g2: crs.g2,
    threads: backend.proverThreads(options.threads),
  });
  writeAtomically(vkPath(options.circuit, crs.name), vk);
  return {
    circuit: options.circuit,
    bytecode_sha256: artifact.bytecode_sha256,
    gates: artifact.gates,
    circuit_size: artifact.circuit_size,
    public_inputs: publicCount,
    vk: vkPath(options.circuit, crs.name),
  };
}

function fieldCount(type) {
  if (type.kind === 'array') return type.length * fieldCount(type.type);
  if (type.kind === 'struct') return type.fields.reduce((n, f) => n + fieldCount(f.type), 0);
  return 1;
}

async function commandExecute(positional, options) {
  if (positional.length !== 1) throw new DriverError('usage', 'execute INPUTS.json');
  const inputs = readJson(positional[0], 'inputs');
  const { program: compiled } = await program(options.circuit);
  const run = async (item) => {
    if (options.circuit === DEFAULT_CIRCUIT) checkResponseHash(item);
    return execute(compiled, item);
  };
  if (Array.isArray(inputs)) {
    // Batch mode (tests): execute every input map, report each outcome, exit 0.
    const results = [];
    for (const item of inputs) {
      try {
        const { returnValue } = await run(item);
        results.push({ ok: true, return_value: returnValue ?? null });
      } catch (err) {
        if (!(err instanceof DriverError)) throw err;
        results.push({ ok: false, kind: err.kind, error: err.message });
      }
    }
    return { circuit: options.circuit, results };
  }
  const t0 = performance.now();
  const { witness, returnValue } = await run(inputs);
  return {
    circuit: options.circuit,
    return_value: returnValue ?? null,
    witness_bytes: witness.length,
    witness_ms: Math.round(performance.now() - t0),
  };
}

async function main(argv) {
  const [command, ...rest] = argv;
  const { positional, options } = parseArgs(rest);
  switch (command) {
    case 'compile': {
      const compiled = await compileCircuit(options.circuit, progress);
      const bytecode = createHash('sha256').update(compiled.bytecode).digest('hex');
      return { circuit: options.circuit, compiler: `noir_wasm ${compiled.cairn_compiler}`, bytecode_sha256: bytecode };
    }
    case 'build':
      return commandBuild(options);
    case 'gates': {
      const { program: compiled, artifact } = await program(options.circuit);
      if (artifact) return { circuit: options.circuit, gates: artifact.gates, subgroup_size: artifact.circuit_size };
      const backend = await import('./backend.mjs');
      return { circuit: options.circuit, ...(await backend.circuitSizes(acir(compiled))) };
    }
    case 'execute':
      return commandExecute(positional, options);
    case 'prove':
      return commandProve(positional, options);
    case 'vk':
      return commandVk(options);
    case 'verify': {
      const result = await commandVerify(positional, options);
      if (!result.valid) {
        process.stdout.write(JSON.stringify(result) + '\n');
        process.exit(EXIT.invalid);
      }
      return result;
    }
    default:
      throw new DriverError(
        'usage',
        `unknown command ${JSON.stringify(command ?? '')}; use compile, build, gates, execute, prove, verify or vk`,
      );
  }
}

main(process.argv.slice(2)).then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(EXIT.ok);
  },
  (err) => {
    const known = err instanceof DriverError || err instanceof ArtifactError;
    const kind = known ? err.kind : 'internal';
    const message = known ? err.message : String(err?.stack ?? err);
    const reason = err instanceof DriverError ? err.reason : undefined;
    process.stderr.write(JSON.stringify({ error: message, kind, reason }) + '\n');
    process.exit(EXIT[kind] ?? EXIT.internal);
  },
);
