// Fuzz (issue 10): the control socket of a daemon (wired to fakes) against random bytes, long
// lines, bad JSON, odd but valid JSON, several requests on one connection, clients that vanish,
// and many idle connections at once. Every connection that sends a request line (or half-closes)
// gets one JSON reply; errors are an operator's words; the daemon still answers afterwards and
// holds no more file descriptors than before.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ControlServer, MAX_CONNECTIONS } from '../../src/control/server.js';
import { request } from '../../src/control/protocol.js';
import { setup } from '../unit/fake-daemon.js';
import { Dice, fuzzSeed, INTERNALS, seeded } from './random.js';

const COUNT = Number(process.env.FUZZ_CONTROL_COUNT ?? 10_000);
const PARALLEL = 16;
const IDLE_MS = 300;

const dir = mkdtempSync(join(tmpdir(), 'uplinkd-fuzz-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fds = (): number => readdirSync('/proc/self/fd').length;

type Ending = 'half-close' | 'newline' | 'vanish';

/** One connection: sends `bytes`, ends as told, resolves with what came back (or null on a reset). */
function exchange(path: string, bytes: Buffer, ending: Ending): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const s = connect({ path, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end within 10 s (${ending}, ${bytes.length} bytes: ${JSON.stringify(bytes.subarray(0, 80).toString('latin1'))})`));
    }, 10_000);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    s.on('end', () => {
      clearTimeout(timer);
      s.end();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    s.on('connect', () => {
      if (ending === 'vanish') {
        s.write(bytes, () => {
          clearTimeout(timer);
          s.destroy();
          resolve(null);
        });
      } else if (ending === 'half-close') s.end(bytes);
      else s.write(Buffer.concat([bytes, Buffer.from('\n')]));
    });
  });
}

const REQUESTS = [
  '{"cmd":"status"}',
  '{"cmd":"reload"}',
  '{"cmd":"nope"}',
  '{}',
  '[]',
  'null',
  '1',
  '"status"',
  '{"cmd":null}',
  '{"cmd":{"x":1}}',
  '{"cmd":"status","x":[1,2]}',
  '{"cmd":"' + 'a'.repeat(3000) + '"}',
  '{"__proto__":{"cmd":"reload"}}',
  '{"cmd":"constructor"}',
  '{"cmd":"toString"}',
];

function input(d: Dice): { bytes: Buffer; ending: Ending; kind: string } {
  const ending: Ending = d.chance(0.1) ? 'vanish' : d.chance(0.5) ? 'half-close' : 'newline';
  switch (d.int(6)) {
    case 0:
      return { bytes: d.bytes(d.int(300)), ending, kind: 'random bytes' };
    case 1: {
      const r = d.pick(REQUESTS);
      return { bytes: Buffer.from(r.slice(0, d.int(r.length))), ending, kind: 'truncated JSON' };
    }
    case 2: {
      const r = Buffer.from(d.pick(REQUESTS));
      for (let i = d.int(4); i >= 0; i--) r[d.int(r.length)] = d.int(256);
      return { bytes: r, ending, kind: 'mutated JSON' };
    }
    case 3:
      return { bytes: Buffer.alloc(d.chance(0.5) ? 5000 : 200_000, d.pick(['a', '{', '\0', ' '])), ending, kind: 'long line' };
    case 4:
      return { bytes: Buffer.from(Array.from({ length: 2 + d.int(5) }, () => d.pick(REQUESTS)).join('\n')), ending, kind: 'several requests' };
    default:
      // Reloads are real work (the file is read and validated): keep them a small part.
      return { bytes: Buffer.from(d.chance(0.1) ? '{"cmd":"reload"}' : d.pick(REQUESTS)), ending, kind: 'JSON' };
  }
}

describe('control fuzz', { timeout: 600_000 }, () => {
  it(`${COUNT} inputs, then many idle connections: one JSON reply each, no crash, no leak`, async (t) => {
    const seed = fuzzSeed();
    const d = new Dice(seeded(seed));
    const { daemon } = setup();
    await daemon.start();
    const path = join(dir, 'fuzz.sock');
    const notices: string[] = [];
    const server = new ControlServer({ path, handle: (req) => daemon.handle(req), idleMs: IDLE_MS, onNotice: (m) => notices.push(m) });
    await server.listen();
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    let i = 0;
    try {
      const before = fds();
      const kinds = new Map<string, number>();
      let replies = 0;
      const worker = async (): Promise<void> => {
        while (i < COUNT) {
          const n = i++;
          const { bytes, ending, kind } = input(d);
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
          const out = await exchange(path, bytes, ending);
          if (ending === 'vanish' || out === null) continue;
          // Nothing but blanks, no line, then a half-close: a clean close and no reply.
          if (ending === 'half-close' && bytes.length <= 4096 && !bytes.includes(0x0a) && bytes.toString('utf8').trim() === '') {
            assert.equal(out, '', `input ${n}: reply to nothing`);
            continue;
          }
          const lines = out.split('\n').filter(Boolean);
          assert.equal(lines.length, 1, `input ${n} (${kind}, seed ${seed}): one reply line, got ${lines.length}: ${out.slice(0, 200)}`);
          const res = JSON.parse(lines[0]!) as { ok: boolean; error?: string };
          assert.equal(typeof res.ok, 'boolean');
          if (!res.ok) assert.ok(typeof res.error === 'string' && !INTERNALS.test(res.error), `input ${n} (seed ${seed}): error "${res.error}"`);
          replies++;
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      t.diagnostic(`${COUNT} inputs (seed ${seed}): ${replies} replies; ${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}`);

      // Many idle connections: the cap answers "busy", the idle timeout frees them.
      const idle = await Promise.all(
        Array.from(
          { length: MAX_CONNECTIONS * 3 },
          () =>
            new Promise<ReturnType<typeof connect>>((resolve) => {
              const s = connect(path, () => resolve(s));
              s.on('error', () => undefined);
            }),
        ),
      );
      const busy = await request(path, { cmd: 'status' });
      assert.equal(busy.ok, false);
      assert.match((busy as { error: string }).error, /busy/);
      await new Promise((r) => setTimeout(r, IDLE_MS * 3));
      const status = await request(path, { cmd: 'status' });
      assert.ok(status.ok, 'answers again once the idle ones timed out');
      for (const s of idle) s.destroy();

      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
      assert.ok(fds() <= before + 2, `file descriptors: ${before} before, ${fds()} after`);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      // Workers still under way end on their own: the server going away resets them.
      i = COUNT;
      await server.close();
      await daemon.stop();
    }
  });
});
