/**
 * A rejected message → its `ingest_rejects` point, so that Grafana shows what
 * was refused and why. Pure.
 *
 * The topic, error and a payload sample become string fields; characters line
 * protocol cannot carry (control characters, invalid UTF-8) are replaced by
 * U+FFFD, so recording a hostile message can never fail in its turn.
 */
import type { RejectReason } from '../contracts.ts';
import { str, type Point } from '../model/point.ts';
import { UNWRITABLE_IN_STRING } from '../model/text-rules.ts';

export const REJECTS_MEASUREMENT = 'ingest_rejects';
/** Bytes of the payload kept as a sample. */
export const PAYLOAD_SAMPLE_BYTES = 200;

const UNWRITABLE = new RegExp(UNWRITABLE_IN_STRING.source, 'g');
const sanitize = (text: string, max: number): string => {
  const clean = text.replace(UNWRITABLE, '\uFFFD');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
};

export interface RejectedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAtMs: number;
  readonly reason: RejectReason;
  readonly error: string;
  readonly route: string;
}

export function rejectPoint(rejected: RejectedMessage): Point {
  const sample = rejected.payload.subarray(0, PAYLOAD_SAMPLE_BYTES).toString('utf8');
  return {
    measurement: REJECTS_MEASUREMENT,
    tags: { reason: rejected.reason, route: rejected.route },
    fields: {
      topic: str(sanitize(rejected.topic, 500)),
      error: str(sanitize(rejected.error, 500)),
      payload: str(sanitize(sample, PAYLOAD_SAMPLE_BYTES) + (rejected.payload.length > PAYLOAD_SAMPLE_BYTES ? '…' : '')),
    },
    timestampMs: rejected.receivedAtMs,
  };
}
