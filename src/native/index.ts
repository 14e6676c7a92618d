// native/: typed loader for the addon in /native (node-addon-api, built by `npm run build`).
// The addon does syscalls only; its errors are {errno, code, syscall} objects.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeErrno {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  readonly message: string;
}

export interface NetlinkListener {
  close(): void;
  portId(): number | null;
  /** One request datagram to the kernel; an errno object when sendto(2) fails. */
  send(datagram: Buffer): NativeErrno | undefined;
  /** Reads what is queued now (as a wakeup would) and hands it over before returning. */
  drain(): void;
}

export type TcpConnectResult = { readonly ok: true; readonly rttMs: number } | ({ readonly ok: false } & NativeErrno);

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups at connect (SO_PEERGROUPS); absent where the kernel has no such option. */
  readonly groups?: readonly number[];
}

/** A raw ICMP (or ICMPv6) socket bound to one interface that passes echo replies only. */
export interface IcmpSocket {
  /** One datagram to `address` at once; an errno object when sendto(2) fails. */
  send(address: string, datagram: Buffer): NativeErrno | undefined;
  close(): void;
}

interface Addon {
  setCloseOnExec(fd: number): NativeErrno | undefined;
  sendDatagram(path: string, data: Buffer): NativeErrno | undefined;
  flock(fd: number): NativeErrno | undefined;
  peerCredentials(fd: number): PeerCredentials | NativeErrno;
  tcpConnect(ifname: string, address: string, port: number, timeoutMs: number, callback: (result: TcpConnectResult) => void): TcpConnectResult | undefined;
  IcmpSocket: new (family: 4 | 6, ifname: string, onPackets: (packets: Buffer[], sources: string[]) => void) => IcmpSocket;
  NetlinkListener: new (
    groups: number,
    rcvbuf: number,
    onMessages: (datagrams: Buffer[]) => void,
    onError: (err: NativeErrno) => void,
    protocol?: number,
    perWake?: number,
    strictDumps?: boolean,
  ) => NetlinkListener;
}

// dist/src/native/index.js -> <root>/native/build/Release
const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const addon = createRequire(import.meta.url)(join(root, 'native/build/Release/uplinkd_native.node')) as Addon;

/** include/uapi/linux/netlink.h */
const NETLINK_ROUTE = 0;

/**
 * Opens a netlink socket of `protocol` (NETLINK_ROUTE by default) bound to the legacy group
 * bitmask `groups`, delivering each datagram as it arrives. `rcvbuf` 0 keeps the kernel default.
 * `perWake`: at most so many datagrams are read (and handed over at once) per wakeup.
 * `strictDumps`: the kernel applies a dump request's filters (NETLINK_GET_STRICT_CHK), where it can.
 */
export function listenNetlink(
  groups: number,
  rcvbuf: number,
  onMessages: (datagrams: Buffer[]) => void,
  onError: (err: NativeErrno) => void,
  protocol = NETLINK_ROUTE,
  perWake = 256,
  strictDumps = false,
): NetlinkListener {
  return new addon.NetlinkListener(groups, rcvbuf, onMessages, onError, protocol, perWake, strictDumps);
}

/**
 * Opens a raw ICMP socket of `family` bound to `ifname` (SO_BINDTODEVICE) whose kernel filter
 * passes echo replies only; what arrives is handed over in batches, each packet with its
 * source address. Throws an Error with `code` (ENODEV when the interface is missing, EPERM
 * without CAP_NET_RAW).
 */
export function openIcmpSocket(family: 4 | 6, ifname: string, onPackets: (packets: Buffer[], sources: string[]) => void): IcmpSocket {
  return new addon.IcmpSocket(family, ifname, onPackets);
}

/**
 * A TCP handshake to address:port from a socket bound to `ifname`, driven by the event loop.
 * Resolves with the handshake time (measured in the addon, CLOCK_MONOTONIC) or the errno;
 * a timeout is ETIMEDOUT. The socket is closed with RST right after.
 */
export function tcpConnect(ifname: string, address: string, port: number, timeoutMs: number): Promise<TcpConnectResult> {
  return new Promise((resolve) => {
    const immediate = addon.tcpConnect(ifname, address, port, timeoutMs, resolve);
    if (immediate) resolve(immediate);
  });
}

/** An exclusive lock on an open file (flock LOCK_EX|LOCK_NB); an errno object when it is held. */
export function flock(fd: number): NativeErrno | undefined {
  return addon.flock(fd);
}

/** The process at the other end of a Unix socket (SO_PEERCRED), or an errno object. */
export function peerCredentials(fd: number): PeerCredentials | NativeErrno {
  return addon.peerCredentials(fd);
}

/** One datagram to a Unix datagram socket (`@name`: abstract namespace), or an errno object. */
export function sendDatagram(path: string, data: Buffer): NativeErrno | undefined {
  return addon.sendDatagram(path, data);
}

/** FD_CLOEXEC on `fd`, so child processes do not inherit it; an errno object on failure. */
export function setCloseOnExec(fd: number): NativeErrno | undefined {
  return addon.setCloseOnExec(fd);
}
