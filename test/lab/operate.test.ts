// Lab: what systemd and keepalived see of a running uplinkd. sd_notify goes to a datagram
// socket that python3 listens on (as systemd's NOTIFY_SOCKET would): READY=1 once the first
// routes are in, STATUS= lines that follow a failover, WATCHDOG=1 at half of WATCHDOG_USEC,
// STOPPING=1 on SIGTERM. `uplinkd check` flips to 1 when every uplink is lost, and back.
// Prometheus metrics scraped during the failover show it, and parse as exposition text.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { parseExposition, type Sample } from '../unit/exposition.js';
import { labConfig } from './config.js';
import { type DaemonHandle, Lab } from './lab.js';
import { waitUntil } from './wait.js';

interface Note {
  readonly at: number;
  readonly fields: Record<string, string>;
}

describe('operating uplinkd: systemd notifications and check', { timeout: 180_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  let listener: ResultPromise;
  const notes: Note[] = [];
  const has = (key: string, test: (v: string) => boolean = () => true) => notes.some((n) => key in n.fields && test(n.fields[key]!));

  before(async () => {
    lab = await Lab.create();
    const socket = join(lab.dir, 'notify.sock');
    listener = execa(
      'python3',
      [
        '-c',
        `import socket,sys,json
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('{}', flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)`,
        socket,
      ],
      { buffer: false, reject: false },
    );
    let buf = '';
    await new Promise<void>((ready) => {
      listener.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === '{}') ready();
          else
            notes.push({
              at: Date.now(),
              fields: Object.fromEntries((JSON.parse(line) as string).split('\n').map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)])),
            });
        }
      });
    });
    daemon = lab.startDaemon(`${labConfig()}metrics: { listen: "127.0.0.1:9469" }\n`, { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '1000000' });
  });
  after(async () => {
    listener?.kill();
    await lab?.destroy();
  });

  it('READY=1 comes once the first routes are in, with a status line', async () => {
    await waitUntil(async () => has('READY'), 20_000, 'READY=1');
    const ready = notes.find((n) => 'READY' in n.fields)!;
    assert.match(ready.fields.STATUS ?? '', /^fiber (up|init)/);
    // The first apply is in before READY: the lookup rule and each uplink's own table (the
    // managed routes follow the first verdicts, which may never come on a dead uplink).
    assert.match((await lab.exec('gw', 'ip', ['rule', 'show'])).stdout, /^9900:\s+from all lookup 100/m);
    assert.ok((await lab.routes(1100)).length > 0, "fiber's own table");
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    await waitUntil(async () => has('STATUS', (s) => s === 'fiber up, 100% of new flows; dsl up, standby'), 5000, 'status: fiber carries, dsl standby');
  });

  it('WATCHDOG=1 every half WATCHDOG_USEC', async () => {
    const first = notes.findIndex((n) => 'WATCHDOG' in n.fields);
    await new Promise((r) => setTimeout(r, 2100));
    const pings = notes.slice(first).filter((n) => 'WATCHDOG' in n.fields).length;
    assert.ok(pings >= 4, `${pings} watchdog pings since the first, in over 2 s at a 500 ms period`);
  });

  /** One scrape from inside the gateway's namespace, where 127.0.0.1:9469 is. */
  const scrape = async (): Promise<Sample[]> => {
    const r = await lab.exec('gw', process.execPath, [
      '-e',
      "fetch('http://127.0.0.1:9469/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))",
    ]);
    return parseExposition(`${r.stdout}\n`.replace(/\n\n$/, '\n'));
  };
  const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
    samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

  it('check: 0 while an uplink carries; 1 once every uplink is lost; 0 again after; metrics follow the failover', async () => {
    const check = async () => (await lab.cli(['check', '--socket', daemon.socket])).code;
    assert.equal(await check(), 0);
    const before = await scrape();
    assert.equal(value(before, 'uplinkd_uplink_state', { uplink: 'fiber', state: 'up' }), 1);
    assert.equal(value(before, 'uplinkd_uplink_new_flows_share_ratio', { uplink: 'fiber' }), 1);
    assert.ok((value(before, 'uplinkd_heartbeats_total', { uplink: 'fiber', result: 'ok' }) ?? 0) > 0);
    await lab.blackhole(1);
    // Scraped while it fails over: every scrape parses; the last one shows the new state.
    const during: Sample[][] = [];
    await waitUntil(
      async () => {
        during.push(await scrape());
        return value(during.at(-1)!, 'uplinkd_uplink_state', { uplink: 'fiber', state: 'down' }) === 1;
      },
      10_000,
      'metrics: fiber down',
    );
    const after = during.at(-1)!;
    assert.equal(value(after, 'uplinkd_uplink_transitions_total', { uplink: 'fiber', family: 'ipv4', to: 'down' }), 1);
    await waitUntil(
      async () => value(await scrape(), 'uplinkd_steering_changes_total', { family: 'ipv4', cause: 'failover' }) === 1,
      5000,
      'metrics: one failover',
    );
    const moved = await scrape();
    assert.equal(value(moved, 'uplinkd_uplink_new_flows_share_ratio', { uplink: 'dsl' }), 1);
    assert.ok((value(moved, 'uplinkd_heartbeats_total', { uplink: 'fiber', result: 'timeout' }) ?? 0) >= 3);
    await waitUntil(async () => has('STATUS', (s) => s === 'fiber down; dsl up, 100% of new flows'), 10_000, 'status after the failover');
    assert.equal(await check(), 0, 'dsl carries');
    await lab.blackhole(2);
    await daemon.waitFor((l) => l.event === 'steering' && l.all_down === true, 10_000, 'all down');
    assert.equal(await check(), 1);
    await waitUntil(async () => has('STATUS', (s) => s.startsWith('ALL DOWN: ')), 5000, 'status says ALL DOWN');
    await lab.heal(2);
    await waitUntil(async () => (await check()) === 0, 20_000, 'check 0 once dsl answers again');
  });

  it('STOPPING=1 on SIGTERM, and exit 0', async () => {
    assert.equal(await daemon.stop(), 0);
    await waitUntil(async () => has('STOPPING'), 2000, 'STOPPING=1');
  });
});
