import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('reliability larger than the number of targets (top-level probe)', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  reliability: 2\n`, 6, 7, 'RELIABILITY_TOO_HIGH', /reliability 2 is more than its 1 target/);
});

it('reliability larger than the number of targets (uplink probe)', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}    probe: { reliability: 3 }\n`, 6, 7, 'RELIABILITY_TOO_HIGH');
});
