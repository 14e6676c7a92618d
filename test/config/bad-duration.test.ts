import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('a duration without a unit', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  interval: 500\n`, 8, 13, 'BAD_DURATION');
});

it('a duration with an unknown unit, in an uplink probe block', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}    probe: { timeout: 3 fortnights }\n`, 7, 23, 'BAD_DURATION', /"3 fortnights"/);
});

it('a zero duration', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}routing:\n  failback: { hold: 0s }\n`, 8, 21, 'BAD_DURATION');
});
