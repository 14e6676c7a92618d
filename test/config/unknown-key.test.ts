import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('an unknown key in an uplink is an error at the key', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}    gatewy: 100.64.1.1\n`, 7, 5, 'UNKNOWN_KEY', /"gatewy"/);
});

it('an unknown top-level key and an unknown probe key', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probes:\n  interval: 1s\n`, 7, 1, 'UNKNOWN_KEY', /"probes"/);
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  intreval: 1s\n`, 8, 3, 'UNKNOWN_KEY', /"intreval"/);
});
