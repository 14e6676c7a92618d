// Lab: an HA pair (issue 12). Every uplink of gateway A blackholed: uplinkd on A goes all-down,
// its hook and `uplinkd check` put keepalived on A in FAULT, B takes the LAN's address, and the
// LAN host's stream continues through B. When A's uplinks answer again, A takes it back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { natAddress, type Pair, startPair } from './ha.js';
import { SINK } from './lab.js';
import { waitUntil } from './wait.js';

const PORT = 7200;
const STREAM_INTERVAL_MS = 2;

describe('HA pair with keepalived', { timeout: 240_000 }, () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
    await pair.lab.echoServer(SINK, PORT);
  });
  after(async () => pair?.destroy());

  const newFlowsVia = async () => {
    const p = await pair.lab.probeFlows(SINK, PORT, 20);
    assert.equal(p.errors, 0);
    return Object.keys(p.via);
  };

  it('the LAN leaves through gateway A while it has an uplink', async () => {
    assert.equal(await pair.holder(), 'gw');
    assert.deepEqual(await newFlowsVia(), [natAddress(pair.lab, 'gw')]);
  });

  it("every uplink of A blackholed: the LAN host's stream continues through B", async (t) => {
    const { lab, daemons } = pair;
    const mark = daemons.gw.logs.length;
    // 12 s of traffic, one packet every 2 ms; the blackhole comes 2 s in.
    const stream = lab.stream(12_000 / STREAM_INTERVAL_MS, STREAM_INTERVAL_MS);
    await new Promise((r) => setTimeout(r, 2000));
    await Promise.all([lab.blackhole(1), lab.blackhole(2)]);
    await daemons.gw.waitFor((l) => l.event === 'steering' && l.all_down === true, 15_000, 'A all down', mark);
    await waitUntil(async () => (await pair.holder()) === 'gw2', 15_000, 'B holds the LAN address');
    const r = await stream;
    t.diagnostic(`stream: ${r.received} of ${r.sent} received; longest outage ${r.longestOutageMs} ms; ${r.receivedAfterGap} after the longest gap`);
    assert.ok(r.receivedAfterGap > 1000, `the stream went on through B: ${JSON.stringify(r)}`);
    assert.deepEqual(await newFlowsVia(), [natAddress(pair.lab, 'gw2')]);
    // The hook told keepalived at once; `uplinkd check` on A says the same.
    assert.ok(daemons.gw.logs.some((l) => l.event === 'hook' && l.for === 'all-down' && l.exit_code === 0));
    assert.equal((await lab.cli(['check', '--socket', daemons.gw.socket], undefined, 'gw')).code, 1);
  });

  it("A's uplinks answer again: A takes the LAN back (it has the higher priority)", async () => {
    await Promise.all([pair.lab.heal(1), pair.lab.heal(2)]);
    await waitUntil(async () => (await pair.holder()) === 'gw', 30_000, 'A holds the LAN address again');
    await waitUntil(async () => (await newFlowsVia()).join() === natAddress(pair.lab, 'gw'), 10_000, 'new flows through A');
  });
});
