import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

for (const [table, name] of [
  [0, 'unspec'],
  [253, 'default'],
  [255, 'local'],
] as const) {
  it(`routing table ${table} (${name}) is refused`, async () => {
    await expectProblem(`uplinks:\n${GOOD_UPLINK}routing:\n  table: ${table}\n`, 8, 10, 'RESERVED_TABLE', new RegExp(`"${name}"`));
  });
}

it('the name "local" is refused too', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}routing:\n  table: local\n`, 8, 10, 'RESERVED_TABLE');
});
