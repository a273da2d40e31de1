/**
 * The ingestor's stage contracts, in one place:
 *
 *   source ──InboundMessage──▶ MessageSink (pipeline/ingest.ts)
 *                                 │ picks one Handler by topic (decoders/, routes/)
 *                                 │ enriches, encodes to line protocol
 *                                 ▼
 *                              LineLog (wal/) ──▶ shipper ──▶ SendLines (writer/) ──▶ InfluxDB
 *
 * A stage depends on these types, never on another stage's implementation.
 */
import type { Point } from './model/point.ts';
import type { PresenceEvent } from './presence/event.ts';
import type { WriteOutcome } from './writer/outcome.ts';

/** One message as a source received it. */
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

/** Where a source hands its messages. */
export interface MessageSink {
  /**
   * Settles when the message may be acknowledged to the broker: what it
   * yields is in the log, or it was rejected (redelivery would fail the same
   * way and the reject is recorded), or it changes nothing. Rejects (the
   * promise) when it must not be acknowledged (the log cannot take it now);
   * the broker then redelivers it. A source calls it one message at a time
   * per connection and acknowledges in that order. Returns undefined instead
   * of a promise when the message may be acknowledged at once (the hot path:
   * no promise per message).
   *
   * `connection`, for a message the broker redelivers when it is not
   * acknowledged (QoS 1), is aborted when the connection that delivered it
   * closes: a message still waiting for room in the log is then dropped,
   * unwritten (the promise rejects), since its redelivery will be written.
   *
   * `atTurnEnd`: the caller acknowledges nothing of this turn of the event
   * loop before `endTurn()` returned true, so the write(2) may wait for it.
   */
  accept(message: InboundMessage, connection?: AbortSignal, atTurnEnd?: boolean): Promise<void> | undefined;
  /**
   * Writes what `accept(…, true)` deferred in this turn: undefined once
   * written, or a promise when it has to wait (the disk refused it), which
   * resolves once it is written and rejects if it never will be (its
   * connection closed, shutdown). Nothing taken in the turn may be
   * acknowledged before.
   */
  endTurn?(): Promise<void> | undefined;
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
  | 'unknown_device'
  /** Not a message's: a line InfluxDB refused for good (writer/refused-lines.ts). */
  | 'influx_rejected';

/** A message that yields nothing storable, and why: a value, never an exception. */
export interface Rejection {
  readonly ok: false;
  readonly reason: RejectReason;
  /** One sentence a device engineer can act on. */
  readonly error: string;
}

export const reject = (reason: RejectReason, error: string): Rejection => ({ ok: false, reason, error });

/** What a handler made of a message. */
export interface Decoded {
  readonly ok: true;
  /** Readings, not yet enriched (location, registry tags) nor encoded. */
  readonly points: readonly Point[];
  /** Presence events the message states (a status topic, a Sparkplug BIRTH / DEATH, an EMQX event). */
  readonly presence?: readonly PresenceEvent[];
}

export type DecodeResult = Decoded | Rejection;

/** Topic levels a handler's match captured, by name (`{location}` → `location`). */
export type Captures = Readonly<Record<string, string>>;

/** The same bounds for every handler: what no handler may let through. */
export interface DecodeBounds {
  /** Payloads larger than this are rejected (`payload_too_large`); a handler may be stricter. */
  readonly maxPayloadBytes: number;
  /** Timestamps further ahead of `receivedAtMs` are rejected (`bad_timestamp`), as are those before 2000. */
  readonly maxFutureMs: number;
}

export interface DecodeContext {
  /** What `match` returned for this message's topic. */
  readonly captures: Captures;
  readonly bounds: DecodeBounds;
}

/**
 * One kind of message: a topic test and a decoder. The pipeline asks each
 * handler of its ordered table in turn; the first that matches decodes the
 * message, and no other handler sees it.
 */
export interface Handler {
  /** Stable and short: the `route` tag of this handler's rejects (a route's name for routes). */
  readonly name: string;
  /**
   * The captures when this handler takes the topic (an empty object when it
   * captures nothing), or null. Pure and cheap: it runs for every message
   * until one handler matches.
   */
  match(topic: string): Captures | null;
  /**
   * The message's points and presence events, or a rejection. No I/O, no
   * clock (the receive time comes with the message), never throws on bad
   * input. The only state a handler may keep is what earlier messages it
   * decoded taught it (Sparkplug's alias tables), never the pipeline's.
   */
  decode(message: InboundMessage, context: DecodeContext): DecodeResult;
}

/** The log the pipeline appends encoded lines to (wal/wal.ts). */
export interface LineLog {
  /**
   * Appends the lines as one record. Returns (or its promise settles) once
   * the record is in the log, so the message it came from may be
   * acknowledged; a promise that waits while the log is full. Throws (or
   * rejects) when it cannot take the record: `RecordTooLargeError` when it
   * never could, any other error when it cannot now. Rejects, with the
   * record unwritten, when `until` is aborted while the record waits.
   */
  append(lines: readonly string[], until?: AbortSignal, deferWrite?: boolean): Promise<void> | undefined | void;
  /** Writes the records deferred (`deferWrite`) in this turn (see MessageSink.endTurn). */
  endTurn?(): Promise<void> | undefined;
}

/**
 * Sends one batch of line protocol to InfluxDB (writer/influx-http.ts). Never
 * rejects: every result, network errors included, is a typed WriteOutcome;
 * retries and splitting are the caller's (writer/delivery.ts) business.
 */
export type SendLines = (lines: readonly string[]) => Promise<WriteOutcome>;
