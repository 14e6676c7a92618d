// Pieces of status reports the unit tests share.
import type { PassiveStatus } from '../../src/types/status.js';

/** An uplink's passive signal with no traffic to watch: on and read (`enabled`), or off. */
export function quietPassive(enabled: boolean): PassiveStatus {
  return {
    enabled,
    watching: enabled,
    sent_packets_per_s: 0,
    sent_bytes_per_s: 0,
    answer_packets_per_s: 0,
    answer_bytes_per_s: 0,
    last_answer_ms_ago: null,
    silent_ms: 0,
    span_ms: 50,
    confirmations: 0,
    refuted: 0,
    holdoff_ms: 0,
  };
}
