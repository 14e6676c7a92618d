// Lab (issue 5, opt-in): source rules, so the gateway answers on each uplink's own address
// through that uplink; and conntrack flush, so LAN flows NATed to a lost uplink get a reset at
// once instead of hanging.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import { SINK, type DaemonHandle, type Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

const pingFrom = async (lab: Lab, role: 'inet' | 'lan', address: string): Promise<boolean> =>
  (await lab.exec(role, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', address], { reject: false })).exitCode === 0;

describe('routing.source_rules', { timeout: 60_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  const config = labConfig({ routingExtra: '  source_rules: true\n' });
  settledLab(config, (r) => ({ lab, daemon } = r));

  it("the backup's own address answers through the backup while the routes point at the primary", async () => {
    const rules = (await lab.exec('gw', 'ip', ['rule', 'show'])).stdout;
    assert.match(rules, /^9200:\s+from all lookup main suppress_prefixlength 0/m);
    assert.match(rules, /^9301:\s+from 100\.64\.2\.2 lookup 1101/m);
    assert.deepEqual(await lab.defaultVia(100), ['wan1']);
    assert.ok(await pingFrom(lab, 'inet', '100.64.2.2'), "the internet reaches the gateway on wan2's address");
    assert.ok(await pingFrom(lab, 'lan', '100.64.2.2'), 'the LAN still reaches it too');
  });

  it('without them (reload), the reply leaves through the primary and its ISP drops it', async () => {
    lab.writeFile('uplinkd.yaml', labConfig());
    const r = await lab.cli(['reload', '--socket', daemon.socket]);
    assert.equal(r.code, 0, r.stderr);
    await waitUntil(async () => !/from 100\.64\.2\.2/.test((await lab.exec('gw', 'ip', ['rule', 'show'])).stdout), 5000, 'source rules removed');
    assert.equal(await pingFrom(lab, 'inet', '100.64.2.2'), false);
  });
});

describe('routing.conntrack_flush', { timeout: 60_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(
    labConfig({ routingExtra: '  conntrack_flush: true\n' }),
    (r) => ({ lab, daemon } = r),
    (l) => l.echoServer(SINK, 7000),
  );

  it('a LAN flow NATed to the lost primary is reset at once', async () => {
    const held = lab.holdFlows(SINK, 7000, 1, 6000);
    assert.deepEqual(await held.ready, ['100.64.1.2']);
    const mark = daemon.logs.length;
    await lab.blackhole(1);
    await daemon.waitState('fiber', 'down', 10_000, mark);
    const flushed = await daemon.waitFor((l) => l.event === 'conntrack', 5000, 'a conntrack flush', mark);
    assert.equal(flushed.command, 'conntrack -D -f ipv4 --reply-dst 100.64.1.2');
    assert.ok(Number(flushed.deleted) >= 1, `entries deleted: ${String(flushed.deleted)} (${String(flushed.err ?? '')})`);
    const report = await held.done;
    assert.equal(report.flows[0]!.error, 'ECONNRESET', 'the client learns at once that its flow is gone');
  });
});
