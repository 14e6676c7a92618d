import { it } from 'node:test';
import { expectProblem } from './validate.js';

it('an uplink without targets', async () => {
  await expectProblem('uplinks:\n  - name: fiber\n    interface: wan1\n', 2, 5, 'MISSING_TARGETS', /has no targets/);
});

it('an uplink with an empty target list', async () => {
  await expectProblem('uplinks:\n  - name: fiber\n    interface: wan1\n    targets: []\n', 4, 14, 'MISSING_TARGETS');
});
