/**
 * The decoder contract.
 *
 * A decoder is a pure function from one received message to points or a
 * rejection: no I/O, no clock (the receive time comes in with the message),
 * no state. That keeps every decoder testable from golden files and lets the
 * write-ahead log replay its output without decoding again.
 */
import type { Point } from '../model/point.ts';

export interface InboundMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** Epoch ms when the ingestor took the message; the timestamp of last resort. */
  readonly receivedAtMs: number;
  /**
   * The broker's RETAIN flag: set when the message is a topic's retained
   * state sent because we (re)subscribed, not a message published just now.
   */
  readonly retained?: boolean;
  /** The QoS it was delivered with; 0 when unknown. */
  readonly qos?: 0 | 1 | 2;
}

/** Short, stable classes of rejection: they become the `reason` tag of `ingest_rejects`. */
export type RejectReason =
  | 'topic_unmatched'
  | 'payload_too_large'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'not_an_object'
  | 'no_fields'
  | 'bad_timestamp'
  | 'bad_point'
  | 'bad_presence'
  | 'bad_field'
  | 'too_deep'
  | 'bad_line_protocol'
  | 'bad_sparkplug'
  | 'unknown_alias'
  | 'unknown_device';

export interface Rejection {
  readonly ok: false;
  readonly reason: RejectReason;
  /** The route that matched, when one did. */
  readonly route?: string;
  /** One sentence a device engineer can act on. */
  readonly error: string;
}

export type DecodeResult = { readonly ok: true; readonly points: readonly Point[] } | Rejection;

export type Decoder = (message: InboundMessage) => DecodeResult;

export const reject = (reason: RejectReason, error: string): Rejection => ({ ok: false, reason, error });
