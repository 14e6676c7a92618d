import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('failback steps that do not ascend', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}routing:\n  failback:\n    steps: [10, 50, 50, 100]\n`, 9, 21, 'BAD_FAILBACK_STEPS', /must ascend/);
});

it('failback steps that do not end at 100', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}routing:\n  failback:\n    steps: [10, 50]\n`, 9, 17, 'BAD_FAILBACK_STEPS', /must end at 100/);
});
