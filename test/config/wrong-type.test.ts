import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('a string where a number belongs', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}    priority: first\n`, 7, 15, 'WRONG_TYPE', /priority must be a whole number/);
});

it('a scalar where a list belongs', async () => {
  await expectProblem(`uplinks: fiber\n`, 1, 10, 'WRONG_TYPE', /uplinks must be a non-empty list/);
});

it('a count that is not whole', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  down: 2.5\n`, 8, 9, 'WRONG_TYPE');
});
