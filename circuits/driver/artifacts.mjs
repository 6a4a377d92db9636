// Compiled circuits. `circuits/artifacts/NAME.json` (committed, its SHA-256 pinned in the Python
// package) holds the compiled program of a circuit that is proven; it is built from the sources
// by `node driver/cairn-zk.mjs build` and never rebuilt at run time. Other circuits (the test
// probe) are compiled on demand into `NAME/target/`, cached under a key made of the installed
// noir_wasm version and the SHA-256 of every source file.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CIRCUITS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS_DIR = join(CIRCUITS_DIR, 'artifacts');
export const ARTIFACT_FORMAT = 'cairn-zk-circuit';

export class ArtifactError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** The version of the installed noir_wasm package (the compiler that produces the bytecode). */
export function compilerVersion() {
  const manifest = join(CIRCUITS_DIR, 'node_modules', '@noir-lang', 'noir_wasm', 'package.json');
  return JSON.parse(readFileSync(manifest, 'utf8')).version;
}

/** SHA-256 over every Nargo.toml and .nr file of the circuit packages, with their paths. */
export function sourceHash() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!['node_modules', 'target', 'driver', 'artifacts'].includes(entry.name)) walk(path);
      } else if (entry.name === 'Nargo.toml' || entry.name.endsWith('.nr')) {
        hash.update(relative(CIRCUITS_DIR, path) + '\0').update(readFileSync(path)).update('\0');
      }
    }
  };
  walk(CIRCUITS_DIR);
  return hash.digest('hex');
}

export function bytecodeSha256(program) {
  return createHash('sha256').update(program.bytecode).digest('hex');
}

function writeAtomically(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

/** Compile `name` from source with noir_wasm (cached in NAME/target/ under compiler + sources). */
export async function compileCircuit(name, progress = () => {}) {
  const project = join(CIRCUITS_DIR, name);
  if (!existsSync(join(project, 'Nargo.toml'))) {
    throw new ArtifactError('usage', `no circuit ${name} under ${CIRCUITS_DIR}`);
  }
  const cachePath = join(project, 'target', `${name}.json`);
  const compiler = compilerVersion();
  const key = createHash('sha256').update(`noir_wasm ${compiler}\0${sourceHash()}`).digest('hex');
  if (existsSync(cachePath)) {
    try {
      const cached = JSON.parse(readFileSync(cachePath, 'utf8'));
      if (cached.cairn_cache_key === key && typeof cached.bytecode === 'string') return cached;
    } catch {
      // A damaged cache entry is simply rebuilt.
    }
  }
  progress(`compiling the ${name} circuit (noir_wasm ${compiler}; cached afterwards)`);
  const { compile_program, createFileManager } = await import('@noir-lang/noir_wasm');
  const fm = createFileManager(project);
  let result;
  const log = console.log;
  console.log = () => {}; // noir_wasm prints progress on stdout, which carries our JSON
  try {
    result = await compile_program(fm, project, () => {}, () => {});
  } catch (err) {
    const detail = err?.diagnostics ? JSON.stringify(err.diagnostics) : String(err?.message ?? err);
    throw new ArtifactError('compile', `compiling ${name} failed: ${detail}`);
  } finally {
    console.log = log;
  }
  const program = { ...result.program, cairn_cache_key: key, cairn_compiler: compiler };
  writeAtomically(cachePath, JSON.stringify(program));
  return program;
}

export function artifactPath(name) {
  return join(ARTIFACTS_DIR, `${name}.json`);
}

/** The path of the committed verification key of `name` for the CRS named `crsName`. */
export function vkPath(name, crsName) {
  return join(ARTIFACTS_DIR, `${name}.${crsName}.vk`);
}

/** Write the artefact of a compiled program (sizes from bb) and return it. */
export function writeArtifact(name, program, sizes, publicCount) {
  const artifact = {
    format: ARTIFACT_FORMAT,
    version: 1,
    circuit: name,
    compiler: `noir_wasm ${program.cairn_compiler}`,
    source_sha256: sourceHash(),
    bytecode_sha256: bytecodeSha256(program),
    gates: sizes.gates,
    circuit_size: sizes.subgroup_size,
    public_inputs: publicCount,
    // Not noir_wasm's `hash` (it varies with where the sources were compiled); noir_js needs
    // only the ABI and the bytecode.
    program: {
      noir_version: program.noir_version,
      abi: program.abi,
      bytecode: program.bytecode,
    },
  };
  writeAtomically(artifactPath(name), JSON.stringify(artifact, null, 1) + '\n');
  return artifact;
}

/** The committed artefact of `name`; refused when missing, malformed or older than the sources. */
export function loadArtifact(name) {
  const path = artifactPath(name);
  let artifact;
  try {
    artifact = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ArtifactError('usage', `no usable compiled circuit ${path}: ${err.message}`);
  }
  if (
    artifact?.format !== ARTIFACT_FORMAT ||
    artifact.version !== 1 ||
    artifact.circuit !== name ||
    typeof artifact.program?.bytecode !== 'string' ||
    !Number.isInteger(artifact.circuit_size) ||
    !Number.isInteger(artifact.public_inputs) ||
    bytecodeSha256(artifact.program) !== artifact.bytecode_sha256
  ) {
    throw new ArtifactError('usage', `${path} is not a ${ARTIFACT_FORMAT} artefact for ${name}`);
  }
  if (artifact.source_sha256 !== sourceHash()) {
    throw new ArtifactError(
      'usage',
      `${path} was not built from the circuit sources in ${CIRCUITS_DIR} (they changed since); ` +
        'rebuild it with scripts/zk_build.py',
    );
  }
  return artifact;
}

/** Whether a committed artefact exists for `name` (proven circuits) or it is compiled on demand. */
export function hasArtifact(name) {
  return existsSync(artifactPath(name));
}
