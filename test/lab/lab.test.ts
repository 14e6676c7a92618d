// The lab's own fault injectors, checked with iputils ping from the gateway: a test that
// relies on an injector is only as good as the injector.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Lab, TARGETS } from './lab.js';

describe('lab fault injectors', { timeout: 120_000 }, () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.create();
  });
  after(async () => lab?.destroy());

  /** Packets answered out of `count`, pinging a target through wan1. */
  const answered = async (count: number, target = TARGETS[0]!): Promise<number> => {
    const r = await lab.exec('gw', 'ping', ['-n', '-q', '-I', 'wan1', '-c', String(count), '-i', '0.01', '-W', '0.3', target], { reject: false });
    const m = /(\d+) received/.exec(r.stdout);
    return m ? Number(m[1]) : 0;
  };

  it('the path works before any fault, through ISP 1 to the internet', async () => {
    // No managed routes yet: give wan1 its own default route as uplinkd would.
    await lab.exec('gw', 'ip', ['route', 'add', 'default', 'via', '100.64.1.1', 'dev', 'wan1', 'table', '1100']);
    await lab.exec('gw', 'ip', ['rule', 'add', 'pref', '9000', 'oif', 'wan1', 'lookup', '1100']);
    assert.equal(await answered(20), 20);
  });

  it('blackhole drops everything, heal restores it', async () => {
    await lab.blackhole(1);
    assert.equal(await answered(10), 0);
    await lab.heal(1);
    assert.equal(await answered(10), 10);
  });

  it('50% loss drops some and passes some', async () => {
    await lab.loss(1, 50);
    const n = await answered(100);
    await lab.heal(1);
    // Requests are dropped at 50% on their way out: about 50 of 100 come back.
    assert.ok(n > 20 && n < 80, `answered ${n} of 100`);
  });

  it('the userspace responder answers in place of the kernel, late by the latency set', async () => {
    await lab.startResponder();
    const rtt = async (): Promise<number> => {
      const r = await lab.exec('gw', 'ping', ['-n', '-q', '-I', 'wan1', '-c', '3', '-i', '0.2', '-W', '2', TARGETS[0]!]);
      return Number(/= [\d.]+\/([\d.]+)\//.exec(r.stdout)?.[1]);
    };
    assert.ok((await rtt()) < 50, 'no delay set');
    lab.latency(1, 300);
    const slow = await rtt();
    assert.ok(slow >= 300 && slow < 450, `rtt ${slow} ms with 300 ms latency`);
    lab.latency(1, 0);
  });

  it('a dead target drops only that target', async () => {
    await lab.killTarget(1, TARGETS[1]!);
    assert.equal(await answered(5, TARGETS[1]), 0);
    assert.equal(await answered(5, TARGETS[0]), 5);
    await lab.reviveTarget(1);
    assert.equal(await answered(5, TARGETS[1]), 5);
  });

  it('carrier down on the ISP side shows as NO-CARRIER on the gateway', async () => {
    await lab.carrier(1, false);
    const link = await lab.exec('gw', 'ip', ['link', 'show', 'wan1']);
    assert.match(link.stdout, /NO-CARRIER/);
    assert.equal(await answered(3), 0);
    await lab.carrier(1, true);
    const back = await lab.exec('gw', 'ip', ['link', 'show', 'wan1']);
    assert.doesNotMatch(back.stdout, /NO-CARRIER/);
  });

  it('a deleted NIC is gone, and comes back with its address', async () => {
    await lab.deleteNic(1);
    const gone = await lab.exec('gw', 'ip', ['link', 'show', 'wan1'], { reject: false });
    assert.notEqual(gone.exitCode, 0);
    await lab.restoreNic(1);
    const addr = await lab.exec('gw', 'ip', ['-4', 'addr', 'show', 'wan1']);
    assert.match(addr.stdout, /100\.64\.1\.2\/24/);
  });
});
