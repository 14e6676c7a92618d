// health/: the state machine as tables, with a fake clock (each round is 1000 ms later).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyRound, initialHealth, type Health, type HealthSettings } from '../../src/health/index.js';
import type { UplinkState } from '../../src/types/index.js';

/** Runs rounds written as a string: `+` a round where every target answered, `-` none, digits the number that answered. */
function runRounds(rounds: string, settings: HealthSettings, targets = 2): { states: UplinkState[]; changes: string[]; last: Health } {
  let h = initialHealth(0);
  const states: UplinkState[] = [];
  const changes: string[] = [];
  [...rounds].forEach((c, i) => {
    const answered = c === '+' ? targets : c === '-' ? 0 : Number(c);
    const step = applyRound(h, { answered, total: targets }, settings, (i + 1) * 1000);
    h = step.health;
    states.push(h.state);
    if (step.change) changes.push(`${step.change.from}->${step.change.to}@${step.change.at}`);
  });
  return { states, changes, last: h };
}

const S = (up: number, down: number, reliability = 1): HealthSettings => ({ up, down, reliability });

describe('health state machine', () => {
  const table: { name: string; rounds: string; settings: HealthSettings; targets?: number; final: UplinkState; changes: string[] }[] = [
    { name: 'init -> up after `up` good rounds', rounds: '+++', settings: S(3, 3), final: 'up', changes: ['init->up@3000'] },
    { name: 'init stays init before `up` good rounds', rounds: '++', settings: S(3, 3), final: 'init', changes: [] },
    { name: 'init -> down after `down` failed rounds', rounds: '---', settings: S(3, 3), final: 'down', changes: ['init->down@3000'] },
    { name: 'up -> down after `down` failed rounds', rounds: '+++---', settings: S(3, 3), final: 'down', changes: ['init->up@3000', 'up->down@6000'] },
    { name: 'a flap shorter than `down` changes nothing', rounds: '+++--+--+', settings: S(3, 3), final: 'up', changes: ['init->up@3000'] },
    { name: 'a recovery shorter than `up` stays down', rounds: '---++-++-', settings: S(3, 3), final: 'down', changes: ['init->down@3000'] },
    { name: 'down -> up after `up` good rounds', rounds: '---+++', settings: S(3, 3), final: 'up', changes: ['init->down@3000', 'down->up@6000'] },
    { name: 'counts of 1 react to every round', rounds: '+-+-', settings: S(1, 1), final: 'down', changes: ['init->up@1000', 'up->down@2000', 'down->up@3000', 'up->down@4000'] },
    { name: 'reliability 2 of 3: two answers are good', rounds: '222', settings: S(3, 3, 2), targets: 3, final: 'up', changes: ['init->up@3000'] },
    { name: 'reliability 2 of 3: one answer is a failed round', rounds: '+++111', settings: S(3, 3, 2), targets: 3, final: 'down', changes: ['init->up@3000', 'up->down@6000'] },
    { name: 'reliability 1 of 2: one dead target changes nothing', rounds: '1111111', settings: S(3, 3, 1), final: 'up', changes: ['init->up@3000'] },
    { name: 'asymmetric counts: up 5, down 2', rounds: '+++++--', settings: S(5, 2), final: 'down', changes: ['init->up@5000', 'up->down@7000'] },
  ];
  for (const row of table) {
    it(row.name, () => {
      const r = runRounds(row.rounds, row.settings, row.targets);
      assert.equal(r.last.state, row.final);
      assert.deepEqual(r.changes, row.changes);
    });
  }

  it('records when and why the state changed', () => {
    const r = runRounds('+++---', S(3, 3));
    assert.equal(r.last.since, 6000);
    assert.match(r.last.reason, /^3 failed rounds \(0 of 2 targets answered, 1 needed\)$/);
  });

  it('an unchanged state keeps its since', () => {
    const r = runRounds('+++++', S(3, 3));
    assert.equal(r.last.since, 3000);
    assert.equal(r.last.goodStreak, 5);
  });
});
