// types/: what a reload changes, as config/diff.ts works it out and track/ acts on it.

export interface ConfigDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Uplinks whose interface, targets or next hop changed: probed afresh from `init`. */
  readonly changed: readonly string[];
  /** Uplinks where only probe settings changed: health is kept, heartbeats follow the new pace. */
  readonly retuned: readonly string[];
  /** Uplinks where only priority or weight changed: health is kept, steering redone. */
  readonly reweighted: readonly string[];
  readonly routingChanged: boolean;
  readonly socketChanged: boolean;
  /** `mptcp:` added, removed or its ID range moved: the next apply rewrites the endpoints. */
  readonly mptcpChanged: boolean;
}
