// A seeded random source for the fuzz tests: a failure names its seed, and
// `FUZZ_SEED=N npm test` replays it exactly.

/** mulberry32: small, fast, and good enough to pick mutations. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function fuzzSeed(): number {
  const fromEnv = Number(process.env.FUZZ_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
}

export class Dice {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** What a message to an operator must never contain: a stack trace or the internals' words. */
export const INTERNALS =
  /\n\s+at |\bat [\w.<>]+ \(.*:\d+:\d+\)|TypeError|RangeError|ReferenceError|Cannot read propert|is not a function|Maximum call stack|parseAllDocuments|YAML\.\w+\(/;
