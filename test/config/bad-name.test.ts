import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('an uplink name over 15 characters', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK.replace('fiber', 'fiber-primary-uplink')}`, 2, 11, 'BAD_NAME');
});

it('an uplink name with bad characters', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK.replace('fiber', 'Fiber.1')}`, 2, 11, 'BAD_NAME');
});

it('an interface name over 15 characters', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK.replace('wan1', 'enp0s31f6-uplink0')}`, 3, 16, 'BAD_INTERFACE');
});

// Issue 10, reproduction 11: these passed validation and failed in the kernel.
it('an interface named ".." (the kernel refuses "." and "..")', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK.replace('wan1', '".."')}`, 3, 16, 'BAD_INTERFACE');
});

it('an interface name of 10 two-byte characters: 10 by UTF-16 length, 20 bytes for the kernel (ERANGE)', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK.replace('wan1', 'éééééééééé')}`, 3, 16, 'BAD_INTERFACE', /15 bytes/);
});
