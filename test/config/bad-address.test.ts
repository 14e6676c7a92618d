import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK } from './validate.js';

it('an invalid target address', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}      - icmp: 198.51.100.300\n`, 7, 15, 'BAD_ADDRESS');
});

it('a tcp target without a port', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}      - tcp: 198.51.100.11\n`, 7, 14, 'BAD_ADDRESS', /ADDRESS:PORT/);
});

it('an IPv6 address as gateway is the wrong family', async () => {
  await expectProblem(GOOD_UPLINK.replace('100.64.1.1', '2001:db8::1').replace(/^/, 'uplinks:\n'), 4, 14, 'WRONG_FAMILY', /must be an IPv4 address/);
});

it('an IPv4 address as gateway6 is the wrong family', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}    gateway6: 100.64.1.1\n`, 7, 15, 'WRONG_FAMILY', /must be an IPv6 address/);
});

it('a destination that is not a prefix', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}routing:\n  destinations: [203.0.113.1/24]\n`, 8, 18, 'BAD_PREFIX', /host bits/);
});

// Issue 10, reproduction 11: targets that can never answer a heartbeat through an uplink.
for (const [target, why] of [
  ['icmp: 0.0.0.0', /unspecified/],
  ['icmp: 255.255.255.255', /broadcast/],
  ['icmp: 224.0.0.1', /multicast/],
  ['icmp: ff02::1', /multicast/],
  ['icmp: 127.0.0.1', /loopback/],
  ['tcp: "[::]:443"', /unspecified/],
  ['tcp: 239.1.1.1:80', /multicast/],
] as const) {
  it(`a heartbeat target ${target}`, async () => {
    await expectProblem(`uplinks:\n${GOOD_UPLINK}      - ${target}\n`, 7, target.indexOf(':') + 11, 'BAD_ADDRESS', why);
  });
}

// Issue 24: `auto` learns the next hop; anything else that is no address names `auto` as allowed.
it('gateway: Auto is neither an address nor auto', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}    gateway6: Auto\n`, 7, 15, 'BAD_ADDRESS', /neither an IPv6 address nor `auto`/);
});

it('an IPv4 address as gateway6 names auto as allowed', async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}    gateway6: 100.64.1.1\n`, 7, 15, 'WRONG_FAMILY', /IPv6 address or `auto`/);
});
