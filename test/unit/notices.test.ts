// track/notices: what an apply's report means for the operator, as a table: each refusal,
// foreign rule and connected route is said once; a retry is armed while anything is refused
// or held back, its pause doubling while the refusal stays; drains wait for the managed part.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NO_NOTICES, noteApply, type NoticeState } from '../../src/track/notices.js';
import type { ApplyReport } from '../../src/types/routes.js';

const EMPTY: ApplyReport = { changes: [], missing: [], refused: [], foreign: [], connected: [], deferred: [] };
const UPLINK_ROUTE = { command: 'ip route replace 0.0.0.0/0 table 1101 via 100.64.9.1 dev wan2', code: 'ENETUNREACH', managed: false };
const MANAGED_ROUTE = { command: 'ip route replace 0.0.0.0/0 table 200 via 100.64.1.1 dev wan1', code: 'ENETUNREACH', managed: true };

describe('apply notices', () => {
  it('a sequence of applies: logged once, retried after 1, 2, 4 s, then said to be in', () => {
    const rows: [string, Partial<ApplyReport>, string[], number | undefined, boolean][] = [
      ['all in', {}, [], undefined, true],
      ['an uplink route refused', { refused: [UPLINK_ROUTE] }, ['error not applied'], 1000, true],
      ['still refused', { refused: [UPLINK_ROUTE] }, [], 2000, true],
      ['still refused', { refused: [UPLINK_ROUTE] }, [], 4000, true],
      [
        'a managed route refused too: a new refusal starts over',
        { refused: [UPLINK_ROUTE, MANAGED_ROUTE], deferred: ['ip route del 0.0.0.0/0 table 100'] },
        ['error not applied'],
        1000,
        false,
      ],
      ['all in again', {}, ['info now applied'], undefined, true],
      [
        'a managed route whose interface went while it was written',
        { refused: [{ ...MANAGED_ROUTE, interfaceGone: 'wan1' }] },
        ['warn not applied'],
        1000,
        false,
      ],
      [
        'next apply: that next hop is left out (its interface is gone), so nothing was applied',
        { missing: ['wan1 for 0.0.0.0/0 in table 200: no interface wan1'], managedLeftOut: true },
        ['warn next hop left out'],
        undefined,
        false,
      ],
      ['back and in: said by the link', {}, [], undefined, true],
      ['raced again', { refused: [{ ...MANAGED_ROUTE, interfaceGone: 'wan1' }] }, ['warn not applied'], 1000, false],
      ['the same refusal with its interface in place: a fault after all', { refused: [MANAGED_ROUTE] }, ['error not applied'], 2000, false],
      ['and again: said once', { refused: [MANAGED_ROUTE] }, [], 4000, false],
      ['all in again', {}, ['info now applied'], undefined, true],
      [
        'a next hop left out: its interface is gone',
        { missing: ['fiber for 0.0.0.0/0 in table 1100: no interface wan1'] },
        ['warn next hop left out'],
        undefined,
        true,
      ],
      ['still gone: said once', { missing: ['fiber for 0.0.0.0/0 in table 1100: no interface wan1'] }, [], undefined, true],
      ['back', {}, [], undefined, true],
      ['admin down', { missing: ['fiber for 0.0.0.0/0 in table 1100: wan1 is admin down'] }, ['warn next hop left out'], undefined, true],
      ['a foreign rule', { foreign: ['ip rule add pref 9899 unreachable'] }, ['warn a rule uplinkd did not write'], undefined, true],
      ['the same foreign rule', { foreign: ['ip rule add pref 9899 unreachable'] }, [], undefined, true],
      [
        'a connected route: said, never retried',
        { connected: ['ip route replace 100.64.7.0/24 table main via 100.64.1.1 dev wan1'] },
        ['warn not written'],
        undefined,
        true,
      ],
    ];
    let state: NoticeState = NO_NOTICES;
    for (const [what, report, said, retry, ok] of rows) {
      const step = noteApply(state, { ...EMPTY, ...report });
      state = step.state;
      assert.deepEqual(
        step.notices.map((n) => `${n.level} ${n.msg.split(/:| \(/)[0]}`).map((l) => l.replace(/ (sits|0\.0).*$/, '')),
        said,
        what,
      );
      assert.equal(step.retryInMs, retry, `${what}: retry`);
      assert.equal(step.managedOk, ok, `${what}: managed part as asked`);
    }
  });

  it('the pause stops doubling at 30 s', () => {
    let state: NoticeState = NO_NOTICES;
    const waits: (number | undefined)[] = [];
    for (let i = 0; i < 8; i++) {
      const step = noteApply(state, { ...EMPTY, refused: [UPLINK_ROUTE] });
      state = step.state;
      waits.push(step.retryInMs);
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});
