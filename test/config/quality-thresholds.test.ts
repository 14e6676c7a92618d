import assert from 'node:assert/strict';
import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK, validate } from './validate.js';

it('quality and pacing keys are accepted', async () => {
  const r = await validate(
    `uplinks:\n${GOOD_UPLINK}probe:\n  failure_interval: 100ms\n  recovery_interval: 5s\n  window: 10\n  max_rtt: 500ms\n  max_loss: 20\n  recover_rtt: 300ms\n  recover_loss: 5\n`,
  );
  assert.equal(r.code, 0, r.lines.join('\n'));
});

it('a recovery threshold not below its maximum', async () => {
  await expectProblem(
    `uplinks:\n${GOOD_UPLINK}probe:\n  max_rtt: 500ms\n  recover_rtt: 500ms\n`,
    9,
    16,
    'BAD_VALUE',
    /recover_rtt \(500\) must be below max_rtt \(500\)/,
  );
});

it('a recovery threshold without its maximum', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  recover_loss: 5\n`, 8, 17, 'MISSING_KEY', /needs max_loss/);
});

it('a loss percentage over 100', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  max_loss: 140\n`, 8, 13, 'BAD_VALUE');
});
