/**
 * Shared by the property-based hostile tests: byte-level mutations (bit flips, byte writes,
 * truncations, splices, deletions, insertions) of a valid input, and `exercise`, which opens the result
 * and uses everything the view offers. The property: every outcome is a consistent view or a typed
 * error (ImgfsError, or an fs-style error with a known code); never a TypeError, a RangeError or an
 * unhandled rejection. A hang fails the property by its test timeout (no per-case clock: timings
 * belong in bench/).
 *
 * Runs: FUZZ_RUNS (default a CI-sized handful per property); seed: FUZZ_SEED (default fixed, so CI is
 * reproducible). A failure prints the seed and the shrunk counterexample: rerun with
 * `FUZZ_SEED=<seed> npx vitest run test/hostile/fuzz`.
 */
import fc from 'fast-check';
import { ImgfsError, openImage, type ImageFS, type OpenOptions } from '../../../lib/index.js';
import { assertTyped } from '../hostile-helpers.js';

export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 40);
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20_240_601);
/** Test timeout for a whole property, scaled with the runs. */
export const propertyTimeout = (runs = FUZZ_RUNS, perRunMs = 400): number => Math.max(30_000, runs * perRunMs);

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; from: number; length: number; at: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

/**
 * Positions are drawn as integers and taken modulo the input length when applied, so one mutation
 * list fits any input. `hot` positions (e.g. header blocks) are drawn more often when given.
 */
export function mutationArb(hot: readonly number[] = []): fc.Arbitrary<Mutation> {
  const anywhere = fc.nat({ max: 1 << 30 });
  const position = hot.length === 0 ? anywhere : fc.oneof(anywhere, fc.constantFrom(...hot).chain((base) => fc.nat({ max: 511 }).map((d) => base + d)));
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: position, byte: fc.constantFrom(0, 0x20, 0x30, 0x37, 0x39, 0x80, 0xff, 0x2f, 0x2e) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice' as const), from: position, length: fc.integer({ min: 1, max: 2048 }), at: position }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 1024 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }) },
  );
}

export function mutationsArb(hot: readonly number[] = [], maxLength = 4): fc.Arbitrary<Mutation[]> {
  return fc.array(mutationArb(hot), { minLength: 1, maxLength });
}

/** Applies `mutations` in order to a copy of `input`. */
export function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let data = Buffer.from(input);
  for (const m of mutations) {
    const length = data.length;
    if (length === 0) break;
    const at = (value: number): number => value % length;
    switch (m.kind) {
      case 'flip':
        data[at(m.at)] = (data[at(m.at)] as number) ^ (1 << m.bit);
        break;
      case 'set':
        data[at(m.at)] = m.byte;
        break;
      case 'truncate':
        data = data.subarray(0, at(m.at));
        break;
      case 'splice': {
        const from = at(m.from);
        const piece = Buffer.from(data.subarray(from, from + m.length));
        piece.copy(data, at(m.at));
        break;
      }
      case 'delete': {
        const start = at(m.at);
        data = Buffer.concat([data.subarray(0, start), data.subarray(start + m.length)]);
        break;
      }
      case 'insert': {
        const start = at(m.at);
        data = Buffer.concat([data.subarray(0, start), Buffer.from(m.bytes), data.subarray(start)]);
        break;
      }
    }
  }
  return data;
}

/** Recomputes the checksum of every 512-byte block at `offsets` still inside `tar`, so mutations get past it. */
export function fixChecksums(tar: Buffer, offsets: readonly number[]): Buffer {
  for (const offset of offsets) {
    if (offset + 512 > tar.length) continue;
    const header = tar.subarray(offset, offset + 512);
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += header[i] as number;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  }
  return tar;
}

/** What one case did, for statistics. */
export type Outcome = 'view' | string;

/**
 * Opens `source` and uses the whole view: walk, lstat, readdir of every directory, readFile and a
 * stream of every regular file (up to `maxFiles`), readlink and realpath of every symlink, history.
 * Checks that file reads return `stats.size` bytes and that a stream returns what readFile does.
 * Returns 'view', or the code of the first ImgfsError met (path errors such as a dangling symlink's
 * ENOENT belong to a view); rethrows anything untyped.
 */
export async function exercise(source: string | string[], options: OpenOptions = {}, maxFiles = 50): Promise<Outcome> {
  let fs: ImageFS;
  try {
    fs = await openImage(source, { cache: false, ...options });
  } catch (error) {
    assertTyped(error);
    return (error as { code: string }).code;
  }
  let outcome: Outcome = 'view';
  // A path error (a dangling symlink, a link loop) is part of a view; an ImgfsError is the outcome.
  const typed = (error: unknown): void => {
    assertTyped(error);
    if (outcome === 'view' && error instanceof ImgfsError) outcome = error.code;
  };
  try {
    let files = 0;
    const walked: string[] = [];
    try {
      for await (const { path, stats } of fs.walk('/')) {
        walked.push(path);
        try {
          if (stats.isDirectory()) {
            await fs.readdir(path);
          } else if (stats.isFile() && files < maxFiles) {
            files++;
            const bytes = await fs.readFile(path);
            if (bytes.length !== stats.size) throw new Error(`${path}: readFile gave ${bytes.length} bytes, stat says ${stats.size}`);
            if (files <= 5) {
              const streamed = await collect(fs.createReadStream(path));
              if (!streamed.equals(bytes)) throw new Error(`${path}: stream and readFile disagree`);
            }
          } else if (stats.isSymbolicLink()) {
            await fs.readlink(path);
            await fs.realpath(path).catch(typed);
            await fs.stat(path).catch(typed);
          }
        } catch (error) {
          typed(error);
        }
      }
    } catch (error) {
      typed(error);
    }
    for (const path of walked.slice(0, 20)) {
      try {
        fs.history(path);
      } catch (error) {
        typed(error);
      }
    }
    for (let layer = 0; layer < fs.layers.length; layer++) {
      try {
        fs.changes(layer);
      } catch (error) {
        typed(error);
      }
    }
  } finally {
    await fs.close();
  }
  return outcome;
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Runs a property with the suite's seed and run count; prints how outcomes were spread. */
export async function check<T>(name: string, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<Outcome>, runs = FUZZ_RUNS): Promise<Map<Outcome, number>> {
  const outcomes = new Map<Outcome, number>();
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      const outcome = await predicate(value);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }),
    { numRuns: runs, seed: FUZZ_SEED },
  );
  if (process.env.FUZZ_VERBOSE === '1') console.log(`${name}: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return outcomes;
}
