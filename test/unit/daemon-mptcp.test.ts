// daemon/: `mptcp:` wired to the in-memory path manager: the endpoints follow the failover in a
// safe order, and one deleted by hand is put back by the watch, on the fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MPTCP_WATCH_MS } from '../../src/daemon/mptcp-watch.js';
import { FakeMptcp } from '../../src/mptcp/index.js';
import { RECONCILE_DEBOUNCE_MS } from '../../src/track/index.js';
import { CONFIG, setup } from './fake-daemon.js';

const endpoints = (fake: FakeMptcp): string[] => fake.endpointList.map((e) => `${e.id} ${e.address} dev ${e.ifindex} flags ${e.flags}`);

/** Both uplinks up (fiber carries), then fiber lost: dsl carries. */
async function failedOver() {
  const mptcp = new FakeMptcp();
  const d = setup(`${CONFIG}mptcp: {}\n`, { mptcp });
  d.sysctl.values.set('net.mptcp.enabled', '0');
  await d.daemon.start();
  assert.deepEqual(mptcp.calls, [], 'no verdict yet: nothing added (a restart keeps what the kernel has)');
  for (let i = 0; i < 2; i++) {
    d.round('fiber', true, true);
    d.round('dsl', true);
  }
  await d.settle();
  assert.deepEqual(endpoints(mptcp), ['100 100.64.1.2 dev 11 flags 2', '102 100.64.2.2 dev 12 flags 6'], 'fiber carries, dsl stands by');
  const before = mptcp.calls.length;
  d.round('fiber', false, false);
  d.round('fiber', false, false);
  await d.settle();
  return { ...d, mptcp, failover: mptcp.calls.slice(before) };
}

describe('daemon: mptcp', () => {
  it('failover: the backup endpoint made nobackup before the lost one is deleted; MPTCP switched on', async () => {
    const { daemon, mptcp, failover, sysctl } = await failedOver();
    assert.deepEqual(failover, ['nobackup 102', 'delete 100']);
    assert.deepEqual(endpoints(mptcp), ['102 100.64.2.2 dev 12 flags 2']);
    assert.equal(sysctl.values.get('net.mptcp.enabled'), '1');
    await daemon.stop();
  });

  it('an endpoint deleted by hand is back within MPTCP_WATCH_MS and the reconcile debounce', async () => {
    const { daemon, mptcp, logs, pass, settle } = await failedOver();
    const calls = mptcp.calls.length;
    mptcp.endpointList = mptcp.endpointList.filter((e) => e.id !== 102);
    await settle();
    assert.equal(mptcp.calls.length, calls, 'the path manager sends no event: nothing until the watch looks');
    await pass(MPTCP_WATCH_MS);
    // The watch's look runs on promises the daemon's idle() does not wait for.
    await new Promise((resolve) => setImmediate(resolve));
    await pass(RECONCILE_DEBOUNCE_MS);
    assert.deepEqual(mptcp.calls.slice(calls), ['add 102 100.64.2.2']);
    assert.deepEqual(endpoints(mptcp), ['102 100.64.2.2 dev 12 flags 2']);
    const reconcile = logs.find((l) => l.event === 'reconcile');
    assert.deepEqual(reconcile?.restored, ['ip mptcp endpoint add 100.64.2.2 id 102 dev wan2 subflow']);
    assert.deepEqual(reconcile?.seen, ['MPTCP endpoints differ (ip mptcp endpoint add 100.64.2.2 id 102 dev wan2 subflow)']);
    await daemon.stop();
  });
});
