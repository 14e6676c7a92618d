// Lab (issue 13): the gateway's own MPTCP connection to an aggregation VPS survives every
// failover without a reconnect. uplinkd keeps an endpoint per uplink (fiber `subflow`, dsl
// `subflow backup`), removes a lost uplink's endpoint at once so its data is reinjected on the
// backup's subflow, brings it back as backup through the failback's hold and steps, and hands it
// the data when the failback completes. Defaults throughout: 1 s heartbeats, 30 s hold, steps
// of 10 s.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusReport } from '../../src/types/status.js';
import { assertStatusContract } from './contract.js';
import { type DaemonHandle, type Lab, TARGETS } from './lab.js';
import { AGG, dataPacketsFrom, longestGap, mptcpClient, startAggregation } from './mptcp.js';
import { type RunningLab, settledLab } from './running.js';
import { sleep, waitUntil } from './wait.js';

const CONFIG = `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    priority: 1
    targets: [{ icmp: ${TARGETS[0]} }, { icmp: ${TARGETS[1]} }]
  - name: dsl
    interface: wan2
    gateway: 100.64.2.1
    priority: 2
    targets: [{ icmp: ${TARGETS[0]} }, { icmp: ${TARGETS[1]} }]
routing:
  table: 100
mptcp: {}
`;
const FIBER = '100.64.1.2';
const DSL = '100.64.2.2';

describe('MPTCP subflows follow the steering', { timeout: 400_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  let running: RunningLab;
  settledLab(
    CONFIG,
    (r) => {
      running = r;
      ({ lab, daemon } = r);
    },
    startAggregation,
  );

  const endpoints = async (): Promise<string[]> =>
    (await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'show'])).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
  const status = async (): Promise<StatusReport> => {
    const json = (await daemon.status()).json;
    assertStatusContract(json);
    return json as StatusReport;
  };
  const mptcpOf = async (name: string) => (await status()).uplinks.find((u) => u.name === name)!.mptcp!;
  const command = (c: string, from: number, ms = 10_000) => daemon.waitFor((l) => l.event === 'mptcp' && l.command === c, ms, c, from);
  /** Both uplinks carry a subflow of the connection (the backup's joins a moment after the first). */
  const bothSubflows = () =>
    waitUntil(async () => (await mptcpOf('fiber')).subflows >= 1 && (await mptcpOf('dsl')).subflows >= 1, 10_000, 'a subflow on each uplink');

  it('starts with fiber carrying and dsl on standby, each endpoint logged as its ip mptcp command, source rules in', async () => {
    // The endpoints follow the routes and rules in the same apply (route/router.ts): a moment after the last rule.
    const want = [`${FIBER} id 100 subflow dev wan1`, `${DSL} id 102 subflow backup dev wan2`];
    await waitUntil(async () => JSON.stringify(await endpoints()) === JSON.stringify(want), 10_000, 'fiber carrying, dsl standby');
    assert.deepEqual(await endpoints(), want);
    // Added once each uplink has its first verdict (as standby or carrying, by which answered first).
    for (const [address, id, dev] of [
      [FIBER, 100, 'wan1'],
      [DSL, 102, 'wan2'],
    ])
      await daemon.waitFor(
        (l) => l.event === 'mptcp' && new RegExp(`^ip mptcp endpoint add ${address} id ${id} dev ${dev} subflow( backup)?$`).test(String(l.command)),
        5000,
        `endpoint ${id} added`,
      );
    const fiber = await mptcpOf('fiber');
    assert.deepEqual(fiber.endpoints, [{ id: 100, address: FIBER, flags: 'subflow' }]);
    assert.deepEqual((await mptcpOf('dsl')).endpoints, [{ id: 102, address: DSL, flags: 'subflow backup' }]);
    // Subflows need their source rules: required under mptcp:.
    const rules = (await lab.exec('gw', 'ip', ['rule', 'show'])).stdout;
    assert.match(rules, new RegExp(`^9300:\\s+from ${FIBER} lookup 1100`, 'm'));
    assert.match(rules, new RegExp(`^9301:\\s+from ${DSL} lookup 1101`, 'm'));
  });

  it('(a) blackhole of the primary: no byte lost, the longest echo gap within the verdict time + 50 ms; (c) after the hold the data moves back to fiber and dsl stays open as standby', async () => {
    const client = mptcpClient(lab, 150);
    assert.equal(await client.connected, FIBER, 'the connection starts on the primary');
    await bothSubflows();
    await sleep(1000);
    let mark = daemon.logs.length;
    const faultAt = Date.now();
    await lab.blackhole(1);
    const down = await daemon.waitState('fiber', 'down', 15_000, mark);
    const verdictMs = Date.parse(down.time as string) - faultAt;
    await command('ip mptcp endpoint change id 102 nobackup', mark);
    const deleted = await command('ip mptcp endpoint delete id 100', mark);
    await sleep(1000);
    assert.deepEqual(await endpoints(), [`${DSL} id 102 subflow dev wan2`]);
    assert.equal((await mptcpOf('fiber')).subflows, 0, "the lost uplink's subflows are closed");

    // (c) Recovery: back as backup through the hold and the steps, then it takes the data.
    mark = daemon.logs.length;
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 20_000, mark);
    await command(`ip mptcp endpoint add ${FIBER} id 100 dev wan1 subflow backup`, mark);
    await waitUntil(async () => (await mptcpOf('fiber')).subflows >= 1, 10_000, 'a new subflow on fiber');
    const during = await dataPacketsFrom(lab);
    await sleep(3000);
    const during2 = await dataPacketsFrom(lab);
    assert.ok(
      during2[FIBER]! - during[FIBER]! < 10,
      `during the hold the data stays on dsl (fiber got ${during2[FIBER]! - during[FIBER]!} data packets in 3 s)`,
    );
    const done = await command('ip mptcp endpoint change id 100 nobackup', mark, 90_000);
    await command('ip mptcp endpoint change id 102 backup', mark);
    const failbackMs = Date.parse(done.time as string) - faultAt;
    await sleep(1000);
    const before = await dataPacketsFrom(lab);
    await sleep(3000);
    const after = await dataPacketsFrom(lab);
    const viaFiber = after[FIBER]! - before[FIBER]!;
    const viaDsl = after[DSL]! - before[DSL]!;
    assert.ok(viaFiber > 100, `the VPS gets the data from fiber's address again (${viaFiber} data packets in 3 s)`);
    assert.ok(viaDsl < viaFiber / 20, `and hardly any from dsl's (${viaDsl})`);
    const dsl = await mptcpOf('dsl');
    assert.ok(dsl.subflows >= 1 && dsl.backup_subflows >= 1, `dsl's subflow stays open as standby: ${JSON.stringify(dsl)}`);
    assert.deepEqual(await endpoints(), [`${FIBER} id 100 subflow dev wan1`, `${DSL} id 102 subflow backup dev wan2`]);

    client.stop();
    const r = await client.done;
    assert.equal(r.bad, 0, 'no echo lost or out of order');
    assert.ok(r.sent > 1000 && r.echoed === r.sent, `every message echoed: ${r.echoed}/${r.sent}`);
    const gap = longestGap(r);
    // Once uplinkd has acted, the data flows: no stall starts after its delete.
    const stalls = r.gaps.filter((g) => g.from >= Date.parse(deleted.time as string) && g.ms > 50);
    assert.deepEqual(stalls, [], 'no echo gap over 50 ms after the endpoint went');
    assert.ok(gap.ms <= verdictMs + 50, `longest echo gap ${gap.ms} ms, verdict ${verdictMs} ms (failback done at +${failbackMs} ms)`);
    console.log(`# blackhole: verdict ${verdictMs} ms, longest echo gap ${gap.ms} ms; failback done ${Math.round(failbackMs / 1000)} s after the fault`);
  });

  it('(e) SIGKILL and restart: the endpoints stay as they are and the connection runs on', async () => {
    const client = mptcpClient(lab, 30);
    await client.connected;
    await bothSubflows();
    const before = await endpoints();
    assert.equal(await daemon.stop('SIGKILL'), -1);
    await sleep(500);
    daemon = running.daemon = lab.startDaemon(CONFIG);
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    await sleep(2000);
    assert.deepEqual(await endpoints(), before);
    assert.deepEqual(
      daemon.logs.filter((l) => l.event === 'mptcp' && l.command).map((l) => l.command),
      [],
      'the restarted daemon changed no endpoint',
    );
    client.stop();
    const r = await client.done;
    assert.equal(r.bad, 0);
    assert.equal(r.echoed, r.sent);
    const gap = longestGap(r);
    assert.ok(gap.ms < 100, `the connection ran on (longest echo gap ${gap.ms} ms)`);
  });

  it('(d) an endpoint deleted or changed by hand comes back', async () => {
    let mark = daemon.logs.length;
    await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'delete', 'id', '102']);
    await command(`ip mptcp endpoint add ${DSL} id 102 dev wan2 subflow backup`, mark, 10_000);
    const why = await daemon.waitFor((l) => l.event === 'reconcile', 5000, 'the reconcile line', mark);
    assert.match(JSON.stringify(why), /MPTCP endpoints differ/);
    mark = daemon.logs.length;
    await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'change', 'id', '100', 'backup']);
    await command('ip mptcp endpoint change id 100 nobackup', mark, 10_000);
    // One not in uplinkd's range is somebody else's: left alone.
    await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'add', '100.64.100.1', 'id', '7', 'signal']);
    await sleep(3000);
    assert.deepEqual(await endpoints(), [`${FIBER} id 100 subflow dev wan1`, `${DSL} id 102 subflow backup dev wan2`, '100.64.100.1 id 7 signal'].sort());
    await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'delete', 'id', '7']);
  });

  it("every uplink lost, then fiber back first: fiber gets an endpoint again, dsl's goes, the connection resumes on fiber with no byte lost", async () => {
    const client = mptcpClient(lab, 60);
    await client.connected;
    await bothSubflows();
    let mark = daemon.logs.length;
    await lab.blackhole(1);
    await command('ip mptcp endpoint delete id 100', mark, 15_000);
    mark = daemon.logs.length;
    await lab.blackhole(2);
    await daemon.waitFor((l) => l.event === 'steering' && l.all_down === true, 15_000, 'all down', mark);
    await sleep(500);
    assert.deepEqual(await endpoints(), [`${DSL} id 102 subflow dev wan2`], "the last carrier's endpoint stays");
    mark = daemon.logs.length;
    await lab.heal(1);
    await command(`ip mptcp endpoint add ${FIBER} id 100 dev wan1 subflow`, mark, 20_000);
    await command('ip mptcp endpoint delete id 102', mark, 5000);
    await waitUntil(async () => (await mptcpOf('fiber')).subflows >= 1, 10_000, 'a subflow on fiber again');
    const before = await dataPacketsFrom(lab);
    await sleep(2000);
    const now = await dataPacketsFrom(lab);
    assert.ok(now[FIBER]! - before[FIBER]! > 100, `the data flows through fiber (${now[FIBER]! - before[FIBER]!} data packets in 2 s)`);
    mark = daemon.logs.length;
    await lab.heal(2);
    await command(`ip mptcp endpoint add ${DSL} id 102 dev wan2 subflow backup`, mark, 20_000);
    client.stop();
    const r = await client.done;
    assert.equal(r.bad, 0, 'no echo lost or out of order');
    assert.equal(r.echoed, r.sent);
  });

  it('(b) NIC deleted: the longest echo gap is at most 50 ms', async () => {
    const client = mptcpClient(lab, 30);
    await client.connected;
    await bothSubflows();
    await sleep(1000);
    const mark = daemon.logs.length;
    const faultAt = Date.now();
    await lab.deleteNic(1);
    const gone = await command('ip mptcp endpoint delete id 100', mark, 5000);
    await sleep(1000);
    client.stop();
    const r = await client.done;
    assert.equal(r.bad, 0);
    assert.equal(r.echoed, r.sent);
    const gap = longestGap(r);
    assert.ok(gap.ms <= 50, `longest echo gap ${gap.ms} ms`);
    console.log(`# NIC deleted: endpoint gone ${Date.parse(gone.time as string) - faultAt} ms after, longest echo gap ${gap.ms} ms (to ${AGG})`);
    await lab.restoreNic(1);
    await daemon.waitState('fiber', 'up', 20_000, mark);
  });

  it('(f) remove_on_exit: SIGTERM leaves none of the endpoints, routes, rules or nftables table, and the stop line counts them', async () => {
    const withRemoval = CONFIG.replace('routing:\n  table: 100\n', 'routing:\n  table: 100\n  remove_on_exit: true\n');
    assert.notEqual(withRemoval, CONFIG);
    assert.equal(await daemon.stop(), 0);
    daemon = running.daemon = lab.startDaemon(withRemoval);
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    // (b) just brought fiber back: which one carries depends on the failback under way.
    await waitUntil(async () => (await ownedByUplinkd()).endpoints.length === 2, 10_000, 'an endpoint for each uplink');
    const before = await ownedByUplinkd();
    assert.ok(before.routes.length >= 3 && before.rules.length >= 6 && before.table, JSON.stringify(before));
    const mark = daemon.logs.length;
    assert.equal(await daemon.stop(), 0);
    assert.deepEqual(await ownedByUplinkd(), { routes: [], rules: [], endpoints: [], table: false }, 'nothing of uplinkd left');
    const stop = daemon.logs.slice(mark).find((l) => l.event === 'stop' && l.removed !== undefined);
    console.log(`# remove_on_exit: ${stop?.msg}`);
    assert.deepEqual(stop?.removed, { routes: before.routes.length, rules: before.rules.length, endpoints: 2, table: true }, String(stop?.msg));
    assert.equal(
      stop?.msg,
      `routing.remove_on_exit: removed ${before.routes.length} routes, ${before.rules.length} rules, 2 MPTCP endpoints and the nftables table`,
    );
    // Each removal was logged as its command, and counted once.
    const commands = daemon.logs.slice(mark).map((l) => String(l.command ?? ''));
    assert.equal(commands.filter((c) => /^ip (-6 )?route del /.test(c)).length, before.routes.length);
    assert.equal(commands.filter((c) => /^ip (-6 )?rule del /.test(c)).length, before.rules.length);
    assert.deepEqual(commands.filter((c) => c.startsWith('ip mptcp endpoint delete')).sort(), [
      'ip mptcp endpoint delete id 100',
      'ip mptcp endpoint delete id 102',
    ]);
    // The after hook stops uplinkd again: give it a live one.
    daemon = running.daemon = lab.startDaemon(CONFIG);
    await daemon.waitState('fiber', 'up', 20_000);
  });

  /** What uplinkd puts in the gateway: routes in its tables, rules in its range, endpoints in its ID range, its nftables table. */
  async function ownedByUplinkd(): Promise<{ routes: string[]; rules: string[]; endpoints: string[]; table: boolean }> {
    const routes: string[] = [];
    const rules: string[] = [];
    for (const family of ['-4', '-6']) {
      for (const table of ['100', '1100', '1101']) {
        const out = (await lab.exec('gw', 'ip', [family, 'route', 'show', 'table', table])).stdout;
        routes.push(
          ...out
            .split('\n')
            .filter((l) => l.trim() && !/\bproto kernel\b/.test(l))
            .map((l) => `${family} ${table} ${l.trim()}`),
        );
      }
      rules.push(
        ...(await lab.exec('gw', 'ip', [family, 'rule', 'show'])).stdout
          .split('\n')
          .filter((l) => /^9\d\d\d:/.test(l))
          .map((l) => `${family} ${l}`),
      );
    }
    const table = (await lab.exec('gw', 'nft', ['list', 'table', 'inet', 'uplinkd'], { reject: false })).exitCode === 0;
    return { routes, rules, endpoints: (await endpoints()).filter((e) => / id 10[0-3] /.test(e)), table };
  }
});
