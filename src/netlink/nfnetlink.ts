// netlink/: nfnetlink requests that the netlink package cannot send: a batch of several
// messages in one datagram (an nf_tables transaction), on a socket whose port matters (the
// owner of a table is a socket). Sent and answered through the native addon's socket.
import { listenNetlink, type NetlinkListener } from '../native/index.js';
import { NETLINK_NETFILTER, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN } from '../types/netlink.js';
import { errnoName, KernelError } from './errors.js';

/** How long the kernel may take to answer one request. */
const REPLY_TIMEOUT_MS = 2000;

/** nlmsghdr + nfgenmsg (family, version 0, res_id in network order) + attributes. */
export function nfMessage(type: number, flags: number, seq: number, family: number, body: Buffer, resId = 0): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + 4 + body.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt8(family, 16);
  out.writeUInt16BE(resId, 18);
  body.copy(out, 20);
  return out;
}

/** One message of an answer (include/uapi/linux/netlink.h). */
export interface NetlinkAnswer {
  readonly seq: number;
  readonly type: number;
  /** NLMSG_ERROR: 0 is an ack, else the negative errno. */
  readonly error?: number;
  /** What follows the nlmsghdr (for nfnetlink: nfgenmsg, then attributes). */
  readonly body: Buffer;
}

/** The messages in one datagram; a truncated one ends the list. */
export function parseAnswers(datagram: Buffer): NetlinkAnswer[] {
  const out: NetlinkAnswer[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > datagram.length) break;
    const type = datagram.readUInt16LE(off + 4);
    const seq = datagram.readUInt32LE(off + 8);
    const body = datagram.subarray(off + NLMSG_HDRLEN, off + len);
    if (type === NLMSG_ERROR && body.length >= 4) out.push({ seq, type, error: body.readInt32LE(0), body });
    else if (type !== NLMSG_ERROR) out.push({ seq, type, body });
    off += (len + 3) & ~3;
  }
  return out;
}

let nextSeq = 1;
/** `n` consecutive sequence numbers no other request of this process uses meanwhile. */
export function seqBlock(n: number): number {
  const s = nextSeq;
  nextSeq = (nextSeq + n) % 0x7fffffff || 1;
  return s;
}

/** Called with each message of a dump: the datagram and the message's bounds in it (nlmsghdr included). */
export type DumpVisitor = (datagram: Buffer, start: number, end: number) => void;

interface Dump {
  readonly what: string;
  readonly visit: DumpVisitor;
  readonly done: (err?: Error) => void;
}

/** Multicast groups an NfnetlinkSocket joins, and who hears them. */
export interface Multicast {
  /** Legacy group bits (group n is bit n - 1). */
  readonly groups: number;
  /** The receive buffer in bytes (0: the kernel's default): what a burst may queue before it is lost. */
  readonly rcvbuf: number;
  /** A datagram of the groups' messages. */
  readonly onMessages: (datagram: Buffer) => void;
  /** The socket's error code: ENOBUFS when messages were lost. */
  readonly onError: (code: string) => void;
}

/** One NETLINK_NETFILTER socket and the answers awaited on it. */
export class NfnetlinkSocket {
  private readonly waiting = new Map<number, (a: NetlinkAnswer) => void>();
  private readonly dumps = new Map<number, Dump>();
  private readonly listener: NetlinkListener;

  /**
   * `perWake`: datagrams read per wakeup (a long dump yields to the event loop between them).
   * `multicast`: the groups to join and who hears their messages (sequence number 0, which no
   * request of ours uses) and the socket's errors (ENOBUFS: some were lost).
   * `socket`: another netlink protocol than NETLINK_NETFILTER (NETLINK_ROUTE for a filtered
   * route dump), and whether the kernel applies a dump request's filters (strict checking).
   */
  constructor(perWake = 256, multicast?: Multicast, socket: { readonly protocol?: number; readonly strictDumps?: boolean } = {}) {
    this.listener = listenNetlink(
      multicast?.groups ?? 0,
      multicast?.rcvbuf ?? 0,
      (datagrams) => {
        for (const d of datagrams) {
          const seq = d.length >= NLMSG_HDRLEN ? d.readUInt32LE(8) : 0;
          const dump = this.dumps.get(seq);
          if (dump) this.walkDump(d, dump);
          else if (seq === 0 && multicast) multicast.onMessages(d);
          else for (const a of parseAnswers(d)) this.waiting.get(a.seq)?.(a);
        }
      },
      (err) => multicast?.onError(err.code),
      socket.protocol ?? NETLINK_NETFILTER,
      perWake,
      socket.strictDumps ?? false,
    );
  }

  /**
   * Sends a dump request (sequence number `seq`) and hands each answer to `visit` as it
   * arrives, without copying; resolves at NLMSG_DONE. A dump stalls only if the kernel does:
   * it sends the next part when this socket has read the last one (netlink_recvmsg).
   */
  dump(datagram: Buffer, seq: number, what: string, visit: DumpVisitor): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.dumps.delete(seq);
        if (err) reject(err);
        else resolve();
      };
      const wrapped: DumpVisitor = (d, start, end) => {
        // Each part restarts the clock: a dump of 200k entries takes longer than one wait.
        timer.refresh();
        visit(d, start, end);
      };
      const timer = setTimeout(() => done(new Error(`${what}: no answer from the kernel in ${REPLY_TIMEOUT_MS}ms`)), REPLY_TIMEOUT_MS);
      this.dumps.set(seq, { what, visit: wrapped, done });
      const err = this.listener.send(datagram);
      if (err) return done(new Error(`${what}: ${err.message}`));
      // The kernel wrote the dump's first part during the sendto: read it now, not a wakeup later.
      this.listener.drain();
    });
  }

  private walkDump(d: Buffer, dump: Dump): void {
    let off = 0;
    while (off + NLMSG_HDRLEN <= d.length) {
      const len = d.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > d.length) break;
      const type = d.readUInt16LE(off + 4);
      if (type === NLMSG_DONE) return dump.done();
      if (type === NLMSG_ERROR) {
        const errno = len >= NLMSG_HDRLEN + 4 ? -d.readInt32LE(off + NLMSG_HDRLEN) : 0;
        return dump.done(errno ? new KernelError(errnoName(errno), dump.what, errno) : undefined);
      }
      dump.visit(d, off, off + len);
      off += (len + 3) & ~3;
    }
  }

  /**
   * Sends a datagram of several requests, each with NLM_F_ACK and its own sequence number from
   * `seqs`, and resolves with each one's errno (0: done), in the order of `seqs`.
   */
  requestEach(datagram: Buffer, seqs: readonly number[], what: string): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const errnos = new Map<number, number>();
      const done = (err?: Error): void => {
        clearTimeout(timer);
        for (const s of seqs) this.waiting.delete(s);
        if (err) reject(err);
        else resolve(seqs.map((s) => errnos.get(s)!));
      };
      const timer = setTimeout(() => done(new Error(`${what}: no answer from the kernel in ${REPLY_TIMEOUT_MS}ms`)), REPLY_TIMEOUT_MS);
      for (const s of seqs) {
        this.waiting.set(s, (a) => {
          if (a.error === undefined) return;
          errnos.set(s, -a.error);
          if (errnos.size === seqs.length) done();
        });
      }
      const err = this.listener.send(datagram);
      if (err) done(new Error(`${what}: ${err.message}`));
    });
  }

  /**
   * Sends and waits for the acks of `acks`; resolves with the other messages answered on
   * them. `errorsOn`: a sequence number that answers only with an error: a batch whose commit
   * failed (or that the kernel refused whole) is answered on its BATCH_BEGIN (nfnetlink.c,
   * nfnetlink_rcv_batch), before the acks of its messages.
   */
  request(datagram: Buffer, acks: readonly number[], what: string, errorsOn?: number): Promise<NetlinkAnswer[]> {
    return new Promise((resolve, reject) => {
      const answers: NetlinkAnswer[] = [];
      const pending = new Set(acks);
      const refused = (error: number): KernelError => new KernelError(errnoName(-error), what, -error);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        for (const s of acks) this.waiting.delete(s);
        if (errorsOn !== undefined) this.waiting.delete(errorsOn);
        if (err) reject(err);
        else resolve(answers);
      };
      if (errorsOn !== undefined) {
        this.waiting.set(errorsOn, (a) => {
          if (a.error) done(refused(a.error));
        });
      }
      const timer = setTimeout(() => done(new Error(`${what}: no answer from the kernel in ${REPLY_TIMEOUT_MS}ms`)), REPLY_TIMEOUT_MS);
      for (const s of acks) {
        this.waiting.set(s, (a) => {
          if (a.error === undefined) return void answers.push(a);
          if (a.error !== 0) return done(refused(a.error));
          pending.delete(s);
          if (pending.size === 0) done();
        });
      }
      const err = this.listener.send(datagram);
      if (err) done(new Error(`${what}: ${err.message}`));
    });
  }

  /** The socket's netlink port (the owner of a table it took). */
  portId(): number | undefined {
    return this.listener.portId() ?? undefined;
  }

  close(): void {
    this.listener.close();
  }
}
