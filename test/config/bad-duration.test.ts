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

it('durations have ranges: 600h would overflow a timer and fire at once', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  interval: 600h\n`, 8, 13, 'BAD_DURATION', /between 10ms and 1h, not 600h/);
  await expectProblem(`uplinks:\n${GOOD_UPLINK}probe:\n  timeout: 2ms\n`, 8, 12, 'BAD_DURATION', /between 10ms and 1m/);
  await expectProblem(`uplinks:\n${GOOD_UPLINK}routing:\n  failback: { drain: 48h }\n`, 8, 22, 'BAD_DURATION', /between 1ms and 24h/);
});

it('a timeout longer than the interval', async () => {
  await expectProblem(
    `uplinks:\n${GOOD_UPLINK}probe:\n  interval: 200ms\n  timeout: 300ms\n`,
    9,
    12,
    'BAD_VALUE',
    /timeout \(300ms\) must not be longer than interval \(200ms\)/,
  );
});
