// netlink/: NFLOG (nfnetlink_log), the packets a `log group N` rule hands to the one socket
// bound to that group, metadata only (include/uapi/linux/netfilter/nfnetlink_log.h). The
// passive signal's wake-up: uplinkd's table logs a packet leaving through an uplink that has
// answered nothing for a while (nft/ruleset.ts), and nothing is read while all is well.
import { listenNetlink, type NetlinkListener } from '../native/index.js';
import {
  attributes,
  NETLINK_NETFILTER,
  NFNL_SUBSYS_ULOG,
  NFPROTO_UNSPEC,
  NFULA_CFG_CMD,
  NFULA_CFG_MODE,
  NFULA_CFG_QTHRESH,
  NFULA_CFG_TIMEOUT,
  NFULA_IFINDEX_INDEV,
  NFULA_IFINDEX_OUTDEV,
  NFULNL_CFG_CMD_BIND,
  NFULNL_COPY_NONE,
  NFULNL_MSG_CONFIG,
  NFULNL_MSG_PACKET,
  NLM_F_ACK,
  NLM_F_REQUEST,
  nlattr,
} from '../types/netlink.js';
import { errnoName, KernelError } from './errors.js';
import { type NetlinkAnswer, nfMessage, parseAnswers, seqBlock } from './nfnetlink.js';

/** One logged packet: the interfaces it came in and goes out by (0: none). */
export interface LoggedPacket {
  readonly inIfindex: number;
  readonly outIfindex: number;
}

const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

/**
 * The requests that bind `group` to this socket: the bind itself, then metadata only
 * (NFULNL_COPY_NONE), each packet sent at once (a queue threshold of 1; the default batches
 * 100 packets or a second, NFULNL_QTHRESH_DEFAULT, NFULNL_TIMEOUT_DEFAULT).
 */
export function bindRequests(group: number, seq: number): Buffer[] {
  const type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  const flags = NLM_F_REQUEST | NLM_F_ACK;
  const mode = Buffer.alloc(6);
  mode.writeUInt32BE(0, 0);
  mode.writeUInt8(NFULNL_COPY_NONE, 4);
  return [
    nfMessage(type, flags, seq, NFPROTO_UNSPEC, nlattr(NFULA_CFG_CMD, Buffer.from([NFULNL_CFG_CMD_BIND])), group),
    nfMessage(
      type,
      flags,
      seq + 1,
      NFPROTO_UNSPEC,
      Buffer.concat([nlattr(NFULA_CFG_MODE, mode), nlattr(NFULA_CFG_QTHRESH, be32(1)), nlattr(NFULA_CFG_TIMEOUT, be32(0))]),
      group,
    ),
  ];
}

/** An NFULNL_MSG_PACKET body (nfgenmsg, then attributes; ifindexes big-endian) -> its interfaces. */
export function parseLoggedPacket(answer: Pick<NetlinkAnswer, 'type' | 'body'>): LoggedPacket | undefined {
  if (answer.type !== ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) || answer.body.length < 4) return undefined;
  let inIfindex = 0;
  let outIfindex = 0;
  for (const a of attributes(answer.body, 4)) {
    if (a.value.length < 4) continue;
    if (a.type === NFULA_IFINDEX_INDEV) inIfindex = a.value.readUInt32BE(0);
    else if (a.type === NFULA_IFINDEX_OUTDEV) outIfindex = a.value.readUInt32BE(0);
  }
  return { inIfindex, outIfindex };
}

/** How long the kernel may take to acknowledge the bind. */
const BIND_TIMEOUT_MS = 2000;

/** The packets one NFLOG group logs, as they come; a fake stands beside it (daemon tests pass none). */
export interface LoggedPackets {
  /** Binds the group; rejects with the kernel's refusal (EBUSY: another program has it). */
  start(onPacket: (p: LoggedPacket) => void, onError: (err: Error) => void): Promise<void>;
  close(): void;
}

/** The socket bound to one NFLOG group; closing it unbinds the group (the kernel frees it with the socket). */
export class NflogListener implements LoggedPackets {
  private listener: NetlinkListener | undefined;
  private readonly acks = new Map<number, (error: number) => void>();

  constructor(private readonly group: number) {}

  async start(onPacket: (p: LoggedPacket) => void, onError: (err: Error) => void): Promise<void> {
    this.close();
    this.listener = listenNetlink(
      0,
      0,
      (datagrams) => {
        for (const d of datagrams)
          for (const a of parseAnswers(d)) {
            if (a.error !== undefined) this.acks.get(a.seq)?.(a.error);
            else {
              const p = parseLoggedPacket(a);
              if (p) onPacket(p);
            }
          }
      },
      (err) => onError(new Error(`NFLOG group ${this.group}: ${err.message}`)),
      NETLINK_NETFILTER,
    );
    const seq = seqBlock(2);
    try {
      for (const [i, req] of bindRequests(this.group, seq).entries()) await this.send(req, seq + i);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private send(req: Buffer, seq: number): Promise<void> {
    const what = `bind NFLOG group ${this.group}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.acks.delete(seq);
        reject(new Error(`${what}: no answer from the kernel in ${BIND_TIMEOUT_MS}ms`));
      }, BIND_TIMEOUT_MS);
      this.acks.set(seq, (error) => {
        clearTimeout(timer);
        this.acks.delete(seq);
        if (error === 0) resolve();
        else reject(new KernelError(errnoName(-error), what, -error));
      });
      const err = this.listener?.send(req);
      if (err) {
        clearTimeout(timer);
        this.acks.delete(seq);
        reject(new Error(`${what}: ${err.message}`));
      }
    });
  }

  close(): void {
    this.listener?.close();
    this.listener = undefined;
  }
}
