import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('two uplinks with one name: the second is reported', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}${GOOD_UPLINK.replace('wan1', 'wan2')}`, 7, 11, 'DUPLICATE_NAME', /already used by uplinks\[0\]/);
});
