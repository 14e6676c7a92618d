// Address and prefix helpers shared by every layer (pure, no I/O). Validation is node:net's
// (strict dotted quads, unlike inet_aton's forms); bytes, RFC 5952 text and prefixes come
// from ipaddr.js.
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Destination, Family } from './index.js';

export function addressFamily(text: string): Family | undefined {
  // No zone (`fe80::1%eth1`): the uplink's interface is the scope, and node:net accepts
  // zones that nothing else parses (`%-1`).
  if (text.includes('%')) return undefined;
  if (isIPv4(text)) return 4;
  if (isIPv6(text)) return 6;
  return undefined;
}

/** 4 or 16 bytes in network order, as netlink carries addresses. */
export function addressBytes(text: string): Buffer {
  return Buffer.from(ipaddr.parse(text).toByteArray());
}

/** IPv4 dotted quad, or IPv6 in RFC 5952 form (the longest run of zero groups compressed). */
export function bytesToAddress(buf: Uint8Array): string {
  const addr = ipaddr.fromByteArray(Array.from(buf));
  return addr.kind() === 'ipv6' ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
}

/** Parses `default`, `0.0.0.0/0`, `2001:db8::/32`, a bare address (a host route). */
export function parseDestination(text: string): Destination[] | string {
  if (text === 'default') {
    return [
      { prefix: '0.0.0.0/0', family: 4, address: '0.0.0.0', length: 0 },
      { prefix: '::/0', family: 6, address: '::', length: 0 },
    ];
  }
  const [addr, lenText, extra] = text.split('/');
  const family = addressFamily(addr ?? '');
  if (!family || extra !== undefined) return `"${text}" is not a prefix (like 203.0.113.0/24 or 2001:db8::/32) or "default"`;
  const max = family === 4 ? 32 : 128;
  if (lenText !== undefined && !/^\d{1,3}$/.test(lenText)) return `prefix length of "${text}" must be 0 to ${max}`;
  const length = lenText === undefined ? max : Number(lenText);
  if (length > max) return `prefix length of "${text}" must be 0 to ${max}`;
  const address = bytesToAddress(addressBytes(addr!));
  const cidr = `${address}/${length}`;
  const network = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  if (bytesToAddress(Uint8Array.from(network.toByteArray())) !== address) return `"${text}" has host bits set past /${length}`;
  return [{ prefix: cidr, family, address, length }];
}
