#!/usr/bin/env node
// Cairn zero-knowledge driver: compile, execute, prove and verify the Noir circuits offline.
//
//   cairn-zk.mjs compile [--circuit NAME]
//   cairn-zk.mjs execute INPUTS.json [--circuit NAME]   (a JSON array: execute each, report all)
//   cairn-zk.mjs gates [--circuit NAME]
//   cairn-zk.mjs prove INPUTS.json --crs DIR [--insecure-dev-crs] -o PROOF.json
//   cairn-zk.mjs verify PROOF.json --crs DIR [--insecure-dev-crs]
//   (any command) --progress: report the long steps on stderr as {"progress": "..."} lines
//
// Every command prints one JSON object on stdout. Errors print {"error", "kind"} on stderr (plus
// "reason" for CRS errors: missing, malformed, unknown, too-small, insecure-refused,
// proof-insecure, proof-production) and exit with a code from EXIT below. Only
// noir_wasm/noir_js 1.0.0-beta.3 + bb.js 0.82.2 are supported (see docs/zk.md).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile_program, createFileManager } from '@noir-lang/noir_wasm';
import { Noir } from '@noir-lang/noir_js';
import { Barretenberg, UltraHonkBackend } from '@aztec/bb.js';
import { CrsError, inspectCrs, requirePoints } from './crs.mjs';

export const EXIT = {
  ok: 0,
  invalid: 1, // verify: the proof does not verify
  usage: 2,
  unsatisfied: 3, // execute/prove: the inputs violate a constraint
  input: 4, // unreadable or malformed input file
  crs: 5, // CRS missing, too small or refused
  compile: 6,
  internal: 7,
};

export const PROOF_FORMAT = 'cairn-zk-proof';
const CIRCUITS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_CIRCUIT = 'cairn_membership';

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

/** SHA-256 over every Nargo.toml and .nr file of the circuit packages (the compile cache key). */
function sourceHash() {
  const hash = createHash('sha256').update('noir_wasm 1.0.0-beta.3\0');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'target' && entry.name !== 'driver') walk(path);
      } else if (entry.name === 'Nargo.toml' || entry.name.endsWith('.nr')) {
        hash.update(relative(CIRCUITS_DIR, path) + '\0').update(readFileSync(path)).update('\0');
      }
    }
  };
  walk(CIRCUITS_DIR);
  return hash.digest('hex');
}

async function compileCircuit(name) {
  const project = join(CIRCUITS_DIR, name);
  if (!existsSync(join(project, 'Nargo.toml'))) {
    throw new DriverError('usage', `no circuit ${name} under ${CIRCUITS_DIR}`);
  }
  const artifactPath = join(project, 'target', `${name}.json`);
  const sources = sourceHash();
  if (existsSync(artifactPath)) {
    try {
      const cached = JSON.parse(readFileSync(artifactPath, 'utf8'));
      if (cached.cairn_source_sha256 === sources && typeof cached.bytecode === 'string') {
        const hash = createHash('sha256').update(cached.bytecode).digest('hex');
        return { program: cached, hash, artifactPath };
      }
    } catch {
      // A damaged cache entry is simply rebuilt.
    }
  }
  progress(`compiling the ${name} circuit (noir_wasm; cached afterwards)`);
  const fm = createFileManager(project);
  let result;
  const log = console.log;
  console.log = () => {}; // noir_wasm prints progress on stdout, which carries our JSON
  try {
    result = await compile_program(fm, project, () => {}, () => {});
  } catch (err) {
    const detail = err?.diagnostics ? JSON.stringify(err.diagnostics) : String(err?.message ?? err);
    throw new DriverError('compile', `compiling ${name} failed: ${detail}`);
  } finally {
    console.log = log;
  }
  const program = { ...result.program, cairn_source_sha256: sources };
  const hash = createHash('sha256').update(program.bytecode).digest('hex');
  mkdirSync(dirname(artifactPath), { recursive: true });
  const partial = `${artifactPath}.${process.pid}.partial`;
  writeFileSync(partial, JSON.stringify(program));
  renameSync(partial, artifactPath);
  return { program, hash, artifactPath };
}

async function execute(program, inputs) {
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

function backendFor(program, crsDir, threads) {
  const options = { crsPath: crsDir, threads: threads > 0 ? threads : undefined, logger: () => {} };
  return new UltraHonkBackend(program.bytecode, options);
}

async function circuitSizes(program) {
  const api = await Barretenberg.new({ threads: 1, logger: () => {} });
  try {
    const bytecode = new Uint8Array(Buffer.from(program.bytecode, 'base64'));
    const { gunzipSync } = await import('node:zlib');
    const [total, subgroup] = await api.acirGetCircuitSizes(gunzipSync(bytecode), false, true);
    return { gates: total, subgroup_size: subgroup };
  } finally {
    await api.destroy();
  }
}

function toHex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

function crsError(err) {
  return err instanceof CrsError ? new DriverError('crs', err.message, err.reason) : err;
}

/** Classify the CRS before any slow step (a refused CRS fails at once). */
function checkCrs(options) {
  if (!options.crs) throw new DriverError('usage', '--crs DIR is required');
  try {
    return inspectCrs(options.crs, options.insecureDevCrs);
  } catch (err) {
    throw crsError(err);
  }
}

/** Check the CRS holds enough points for the compiled circuit. */
async function sizedCrs(crs, program) {
  progress('sizing the circuit (bb.js)');
  const { subgroup_size: size } = await circuitSizes(program);
  try {
    return requirePoints(crs, size + 1);
  } catch (err) {
    throw crsError(err);
  }
}

async function commandProve(positional, options) {
  if (positional.length !== 1 || !options.out) {
    throw new DriverError('usage', 'prove INPUTS.json --crs DIR -o PROOF.json');
  }
  const inputs = readJson(positional[0], 'inputs');
  const checked = checkCrs(options);
  const { program, hash } = await compileCircuit(options.circuit);
  const crs = await sizedCrs(checked, program);
  progress('generating the witness (noir_js)');
  const t0 = performance.now();
  const { witness } = await execute(program, inputs);
  const t1 = performance.now();
  const backend = backendFor(program, crs.dir, options.threads);
  try {
    progress('proving (bb.js UltraHonk; tens of seconds)');
    const proof = await backend.generateProof(witness);
    const t2 = performance.now();
    const vk = await backend.getVerificationKey();
    const doc = {
      format: PROOF_FORMAT,
      version: 1,
      circuit: options.circuit,
      bytecode_sha256: hash,
      vk_sha256: createHash('sha256').update(vk).digest('hex'),
      insecure_dev_crs: crs.insecure,
      public_inputs: proof.publicInputs,
      proof: toHex(proof.proof),
    };
    writeFileSync(options.out, JSON.stringify(doc, null, 1) + '\n');
    return {
      proof: options.out,
      insecure_dev_crs: crs.insecure,
      witness_ms: Math.round(t1 - t0),
      prove_ms: Math.round(t2 - t1),
    };
  } finally {
    await backend.destroy();
  }
}

function readProofDoc(path) {
  const doc = readJson(path, 'proof');
  const fieldHex = /^0x[0-9a-f]{64}$/;
  if (
    doc === null ||
    typeof doc !== 'object' ||
    doc.format !== PROOF_FORMAT ||
    doc.version !== 1 ||
    typeof doc.circuit !== 'string' ||
    typeof doc.insecure_dev_crs !== 'boolean' ||
    !Array.isArray(doc.public_inputs) ||
    !doc.public_inputs.every((v) => typeof v === 'string' && fieldHex.test(v)) ||
    typeof doc.proof !== 'string' ||
    !/^([0-9a-f]{2})+$/.test(doc.proof)
  ) {
    throw new DriverError('input', `${path} is not a ${PROOF_FORMAT} version 1 document`);
  }
  return doc;
}

async function commandVerify(positional, options) {
  if (positional.length !== 1) throw new DriverError('usage', 'verify PROOF.json --crs DIR');
  const doc = readProofDoc(positional[0]);
  if (doc.circuit !== options.circuit) {
    throw new DriverError('input', `proof is for circuit ${doc.circuit}, not ${options.circuit}`);
  }
  const checked = checkCrs(options);
  if (doc.insecure_dev_crs && !checked.insecure) {
    throw new DriverError(
      'crs',
      'the proof was made with the INSECURE development CRS (tau = 3, anyone can forge such ' +
        'proofs); it cannot be checked against, and proves nothing under, the CRS given',
      'proof-insecure',
    );
  }
  if (!doc.insecure_dev_crs && checked.insecure) {
    throw new DriverError(
      'crs',
      'the proof was made with a production CRS; it must be verified with that CRS, not the ' +
        'development CRS',
      'proof-production',
    );
  }
  // The verification key comes from the circuit source in this repository, never from the proof.
  const { program, hash } = await compileCircuit(options.circuit);
  const crs = await sizedCrs(checked, program);
  const backend = backendFor(program, crs.dir, options.threads);
  try {
    progress('verifying (bb.js rebuilds the verification key from the circuit; ~15 s)');
    const t0 = performance.now();
    let valid;
    try {
      valid = await backend.verifyProof({
        proof: new Uint8Array(Buffer.from(doc.proof, 'hex')),
        publicInputs: doc.public_inputs,
      });
    } catch (err) {
      valid = false;
    }
    const t1 = performance.now();
    return {
      valid,
      circuit: options.circuit,
      bytecode_sha256: hash,
      bytecode_matches: doc.bytecode_sha256 === hash,
      insecure_dev_crs: crs.insecure,
      public_inputs: doc.public_inputs,
      verify_ms: Math.round(t1 - t0),
    };
  } finally {
    await backend.destroy();
  }
}

async function main(argv) {
  const [command, ...rest] = argv;
  const { positional, options } = parseArgs(rest);
  switch (command) {
    case 'compile': {
      const { hash, artifactPath } = await compileCircuit(options.circuit);
      return { circuit: options.circuit, artifact: artifactPath, bytecode_sha256: hash };
    }
    case 'gates': {
      const { program } = await compileCircuit(options.circuit);
      return { circuit: options.circuit, ...(await circuitSizes(program)) };
    }
    case 'execute': {
      if (positional.length !== 1) throw new DriverError('usage', 'execute INPUTS.json');
      const inputs = readJson(positional[0], 'inputs');
      const { program } = await compileCircuit(options.circuit);
      if (Array.isArray(inputs)) {
        // Batch mode (tests): execute every input map, report each outcome, exit 0.
        const results = [];
        for (const item of inputs) {
          try {
            const { returnValue } = await execute(program, item);
            results.push({ ok: true, return_value: returnValue ?? null });
          } catch (err) {
            if (!(err instanceof DriverError)) throw err;
            results.push({ ok: false, kind: err.kind, error: err.message });
          }
        }
        return { circuit: options.circuit, results };
      }
      const t0 = performance.now();
      const { witness, returnValue } = await execute(program, inputs);
      const t1 = performance.now();
      return {
        circuit: options.circuit,
        return_value: returnValue ?? null,
        witness_bytes: witness.length,
        witness_ms: Math.round(t1 - t0),
      };
    }
    case 'prove':
      return commandProve(positional, options);
    case 'verify': {
      const result = await commandVerify(positional, options);
      if (!result.valid) {
        process.stdout.write(JSON.stringify(result) + '\n');
        process.exit(EXIT.invalid);
      }
      return result;
    }
    default:
      throw new DriverError('usage', `unknown command ${JSON.stringify(command ?? '')}; use compile, execute, gates, prove or verify`);
  }
}

main(process.argv.slice(2)).then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(EXIT.ok);
  },
  (err) => {
    const kind = err instanceof DriverError ? err.kind : 'internal';
    const message = err instanceof DriverError ? err.message : String(err?.stack ?? err);
    const reason = err instanceof DriverError ? err.reason : undefined;
    process.stderr.write(JSON.stringify({ error: message, kind, reason }) + '\n');
    process.exit(EXIT[kind] ?? EXIT.internal);
  },
);
