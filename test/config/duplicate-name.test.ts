import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('two uplinks with one name: the second is reported', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}${GOOD_UPLINK.replace('wan1', 'wan2')}`, 7, 11, 'DUPLICATE_NAME', /already used by uplinks\[0\]/);
});

// Issue 10, reproduction 11: the second uplink's heartbeats followed the first one's rule.
it('two uplinks on one interface: the second is reported', async () => {
  await expectProblem(
    `uplinks:\n${GOOD_UPLINK}${GOOD_UPLINK.replace('fiber', 'dsl').replace('100.64.1.1', '100.64.1.254')}`,
    8,
    16,
    'DUPLICATE_INTERFACE',
    /wan1 is already used by uplinks\[0\]/,
  );
});
