import { it } from 'node:test';
import { expectProblem } from './validate.js';

it('an uplink without targets', async () => {
  await expectProblem('uplinks:\n  - name: fiber\n    interface: wan1\n', 2, 5, 'MISSING_TARGETS', /has no targets/);
});

it('an uplink with an empty target list', async () => {
  await expectProblem('uplinks:\n  - name: fiber\n    interface: wan1\n    targets: []\n', 4, 14, 'MISSING_TARGETS');
});

it('more than 64 targets on one uplink are refused (every count has a range)', async () => {
  const targets = Array.from({ length: 65 }, (_, i) => `      - icmp: 198.51.100.${i + 1}\n`).join('');
  await expectProblem(`uplinks:\n  - name: fiber\n    interface: wan1\n    targets:\n${targets}`, 5, 7, 'BAD_VALUE', /at most 64/);
});
