/**
 * The sink the sources feed (the MessageSink of contracts.ts). For each message:
 *
 *   pick the handler ─▶ decode ─▶ enrich ─▶ encode ─▶ append to the log
 *
 * - pick: the first handler of the ordered table (pipeline/handlers.ts) whose
 *   `match` takes the topic; none is a `topic_unmatched` reject;
 * - decode: the handler, with the same bounds for all (MAX_PAYLOAD_BYTES,
 *   TIMESTAMP_MAX_FUTURE_MS), into points and presence events, or a rejection;
 * - enrich: the strict registry check, locations learned or filled in,
 *   registry tags; presence events judged (stale, a moved session, a retained
 *   status already known) and, for EMQX, maybe held until a location is known;
 * - encode and append: all of a message's lines as one record.
 *
 * `accept()` settles when the message may be acknowledged: its lines are in
 * the log, or it was rejected (redelivering it would fail the same way; the
 * reject is counted and recorded as an `ingest_rejects` point, tagged with
 * the handler that refused it), or it was a presence event that changes
 * nothing, or an EMQX presence event (QoS 0, nothing to acknowledge) held
 * until its device's location is known.
 */
import type { Logger } from 'pino';
import { reject, type Captures, type DecodeBounds, type Decoded, type Handler, type InboundMessage, type LineLog, type MessageSink, type Rejection } from '../contracts.ts';
import type { DeviceDirectory } from '../directory/directory.ts';
import type { LagCounter } from '../liveness/catch-up.ts';
import { encodePoint } from '../model/line-protocol.ts';
import type { Point } from '../model/point.ts';
import type { PresenceEvent } from '../presence/event.ts';
import { PresenceHold } from '../presence/hold.ts';
import { judgeRetainedStatus } from '../presence/retained.ts';
import { presencePoint } from '../presence/to-point.ts';
import type { PresenceTracker } from '../presence/tracker.ts';
import type { RollupBook } from '../rollups/book.ts';
import { RecordTooLargeError } from '../wal/wal.ts';
import { rejectPoint } from './reject-point.ts';
import { RateLimiter, type RejectLog } from './rejects.ts';
import type { PipelineStats } from './stats.ts';
import { encodePoints } from './to-lines.ts';

export interface IngestStages {
  /** In order; the first that matches a topic decodes the message (pipeline/handlers.ts builds it). */
  readonly handlers: readonly Handler[];
  /** The same for every handler. */
  readonly bounds: DecodeBounds;
  readonly wal: LineLog;
  readonly rejects: RejectLog;
  readonly stats: PipelineStats;
  readonly directory: DeviceDirectory;
  readonly presence: PresenceTracker;
  readonly log: Logger;
  /**
   * How long an EMQX presence event of a device with no known location waits
   * for telemetry, a status topic or Sparkplug to name it; 0 never waits.
   */
  readonly presenceHoldMs: number;
  /**
   * PRESENCE_EMQX_GATEWAY_USERS: an EMQX event about a client logged in as
   * one of these (the simulator, a field gateway: one connection per device
   * it speaks for, or a health check) is a device's only when that client id
   * is a device: in the registry, or it sent something through any handler.
   * Else it waits like an unlocated event (PRESENCE_HOLD_MS) and is dropped
   * when still no device by then.
   */
  readonly gatewayUsers?: ReadonlySet<string>;
  /** Counts messages with a payload time and how late they came, for the catching-up rule (liveness/catch-up.ts). */
  readonly lag?: LagCounter;
  /** Per-minute rollups (rollups/book.ts, ROLLUPS): each telemetry point, once encoded, is rolled up too. */
  readonly rollups?: Pick<RollupBook, 'add'>;
}

/** `afterLogged` runs once the lines are in the log (or at once when there are none). */
type Lines = { ok: true; lines: string[]; afterLogged?: () => void } | Rejection;

/** The `route` tag of a reject no handler took. */
const NO_HANDLER = 'none';

/** A registered device's extra tags (group, type, registry tags) on its telemetry. */
export function withRegistryTags(point: Point, directory: DeviceDirectory): Point {
  const device = point.tags.device;
  if (device === undefined || !directory.isKnown(device)) return point;
  const { group, extra } = directory.tagsFor(device);
  return { ...point, tags: { ...extra, group, ...point.tags } };
}

/**
 * `ingest_rejects` points per second at most: a flood of bad input must not
 * double the write load. Every reject is still counted (/metrics, logs).
 */
const REJECT_POINTS_PER_SECOND = 50;

/** Bounds the memory of held presence events: about 1 KiB each. Beyond it, events are written at once. */
export const MAX_HELD_PRESENCE_EVENTS = 10_000;

export class Ingest implements MessageSink {
  readonly #stages: IngestStages;
  readonly #rejectPoints = new RateLimiter(REJECT_POINTS_PER_SECOND, Date.now());
  /** Presence events waiting for their device's location; undefined when PRESENCE_HOLD_MS=0. */
  readonly #held: PresenceHold | undefined;
  /** Held devices whose location the message being decoded named: their events go out with it. */
  readonly #located: string[] = [];
  /** Held events of a gateway user's client, not judged yet: written only if the client id turns out to be a device. */
  readonly #awaitingDevice = new WeakSet<PresenceEvent>();

  constructor(stages: IngestStages) {
    this.#stages = stages;
    this.#held = stages.presenceHoldMs === 0
      ? undefined
      : new PresenceHold({ holdMs: stages.presenceHoldMs, maxEvents: MAX_HELD_PRESENCE_EVENTS, onExpire: (events) => void this.#logHeld(events) });
  }

  /**
   * Synchronous when the log takes the lines at once (the hot path: no
   * promise per message); a promise only when the log must first make room,
   * or for a reject point. Nothing waits past the abort of `connection`
   * (MessageSink).
   */
  accept(message: InboundMessage, connection?: AbortSignal, atTurnEnd = false): Promise<void> | undefined {
    const { stats, wal } = this.#stages;
    stats.messagesIn += 1;
    const picked = this.#pick(message.topic);
    const route = picked?.handler.name ?? NO_HANDLER;
    stats.messagesByRoute.set(route, (stats.messagesByRoute.get(route) ?? 0) + 1);
    if (picked === undefined) {
      const tried = this.#stages.handlers.map((handler) => handler.name).join(', ');
      return this.#reject(message, reject('topic_unmatched', `no route matches the topic (tried, in order: ${tried})`), NO_HANDLER, connection);
    }
    const { handler, captures } = picked;
    const decoded = handler.decode(message, { captures, bounds: this.#stages.bounds });
    const result = decoded.ok ? this.#toLines(decoded, message) : decoded;
    // A rejected message may still have taught a location: its held events then
    // go out when their time is up, with that location.
    const located = this.#located.splice(0);
    if (!result.ok) return this.#reject(message, result, handler.name, connection);
    let waitForRoom: Promise<void> | undefined;
    if (result.lines.length > 0) {
      try {
        const appended = wal.append(result.lines, connection, atTurnEnd);
        if (appended instanceof Promise) waitForRoom = appended;
      } catch (error) {
        if (!(error instanceof RecordTooLargeError)) return Promise.reject(error instanceof Error ? error : new Error(String(error)));
        return this.#reject(message, reject('payload_too_large', error.message), handler.name, connection);
      }
    }
    // The hot path (lines in the log at once, nothing held): no promise.
    const logged = (): Promise<void> | undefined => {
      stats.pointsAccepted += result.lines.length;
      result.afterLogged?.();
      if (located.length > 0 && this.#held !== undefined) return this.#logHeld(located.flatMap((device) => this.#held?.take(device) ?? []));
      return undefined;
    };
    return waitForRoom === undefined ? logged() : waitForRoom.then(logged);
  }

  /** The records `accept(…, true)` deferred, written (MessageSink.endTurn). */
  endTurn(): Promise<void> | undefined {
    return this.#stages.wal.endTurn?.();
  }

  /** Writes every held presence event with what is known now; for shutdown, once no more messages come. */
  async flushHeldPresence(): Promise<void> {
    if (this.#held !== undefined) await this.#logHeld(this.#held.takeAll());
  }

  /** Held presence events → points with the directory's tags as they are now → the log. */
  async #logHeld(held: readonly PresenceEvent[]): Promise<void> {
    const { directory, wal, stats, log, presence } = this.#stages;
    const lines: string[] = [];
    for (const event of held) {
      if (this.#awaitingDevice.has(event) && !this.#isDevice(event.device)) {
        // Not a device after all (a health check): no trace, not even in the presence tracker.
        stats.presenceIgnored += 1;
        presence.forget(event.device);
        log.debug({ device: event.device, username: event.username, online: event.online }, 'presence event of a gateway user\'s client that is no device: dropped');
        continue;
      }
      const encoded = encodePoints([presencePoint(event, directory.tagsFor(event.device))]);
      if (!encoded.ok) {
        log.warn({ device: event.device, error: encoded.error }, 'a held presence event cannot be written');
        continue;
      }
      lines.push(...encoded.lines);
      // Held events were received before now: now bounds their time as well as their receive time would.
      directory.liveness.presence(event.device, event.online, event.atMs, event.source, Date.now());
    }
    if (lines.length === 0) return;
    try {
      await wal.append(lines);
      stats.pointsAccepted += lines.length;
    } catch (error) {
      // Not a message's: nobody to refuse. QoS 0 events are lost on this path anyway.
      log.error({ error: (error as Error).message, events: lines.length }, 'cannot log held presence events; they are lost');
    }
  }

  /** Counts and logs the reject, and records it as an `ingest_rejects` point while the budget allows. */
  async #reject(message: InboundMessage, rejection: Rejection, route: string, connection: AbortSignal | undefined): Promise<void> {
    const { rejects, wal } = this.#stages;
    rejects.record({ topic: message.topic, reason: rejection.reason, error: rejection.error });
    if (!this.#rejectPoints.tryTake(Date.now())) return;
    const point = rejectPoint({ ...message, ...rejection, route });
    await wal.append([encodePoint(point)], connection);
    this.#stages.stats.pointsAccepted += 1;
  }

  /** The first handler that takes the topic, with its captures. */
  #pick(topic: string): { handler: Handler; captures: Captures } | undefined {
    for (const handler of this.#stages.handlers) {
      const captures = handler.match(topic);
      if (captures !== null) return { handler, captures };
    }
    return undefined;
  }

  /** Points enriched and encoded, then presence judged: presence only once the data is good, so a rejected message never moves the tracker. */
  #toLines(decoded: Decoded, message: InboundMessage): Lines {
    const data = this.#enrich(decoded.points, message);
    if (!data.ok || decoded.presence === undefined) return data;
    const lines = [...data.lines];
    const afterLogged: (() => void)[] = data.afterLogged === undefined ? [] : [data.afterLogged];
    for (const event of decoded.presence) {
      const presence = this.#presence(event, message);
      if (!presence.ok) return presence;
      lines.push(...presence.lines);
      if (presence.afterLogged !== undefined) afterLogged.push(presence.afterLogged);
    }
    return { ok: true, lines, ...(afterLogged.length > 0 && { afterLogged: () => afterLogged.forEach((run) => run()) }) };
  }

  /**
   * Strict registry check, location filled in, registry tags added; then
   * encoded. Only once the points encoded (a rejected message teaches
   * nothing: a name or location line protocol cannot carry must never reach
   * the book or the directory, whose every tick would trip on it): each
   * device's location is learned, and its newest message time goes into the
   * liveness book (one map lookup): the point's time, which is the
   * payload's when it has one. A retained message with no time of its own
   * says nothing about now (the broker re-sends it at every subscription):
   * not counted.
   */
  #enrich(decodedPoints: readonly Point[], message: InboundMessage): Lines {
    const { directory, lag } = this.#stages;
    const points: Point[] = [];
    const { receivedAtMs } = message;
    const retained = message.retained === true;
    if (lag !== undefined && !retained && decodedPoints.length > 0) {
      const atMs = (decodedPoints[0] as Point).timestampMs;
      if (atMs !== receivedAtMs) lag.count(receivedAtMs, atMs);
    }
    for (const point of decodedPoints) {
      const { device, location } = point.tags;
      if (device !== undefined && directory.strict && !directory.isKnown(device)) {
        return reject('unknown_device', `device ${JSON.stringify(device)} is not in DEVICES_FILE, which is strict`);
      }
      // A layout without a location level: the directory's, or "unknown", never a missing tag.
      const located = device !== undefined && location === undefined ? { ...point, tags: { ...point.tags, location: directory.tagsFor(device).location } } : point;
      points.push(withRegistryTags(located, directory));
    }
    const encoded = encodePoints(points);
    if (!encoded.ok) return encoded;
    for (const point of decodedPoints) {
      const { device, location } = point.tags;
      if (device === undefined) continue;
      if (!retained || point.timestampMs !== receivedAtMs) directory.liveness.seen(device, point.timestampMs, receivedAtMs);
      if (location !== undefined && location !== '') this.#learnLocation(device, location);
    }
    // Rolled up as written (enriched: location and group filled in), once in the log: a point the log refused is in neither.
    // Not a retained message: the broker re-sends it at every subscription, and once more into its minute would count it
    // twice, or rewrite a minute closed long ago (a previous run's, complete) with this one reading.
    const { rollups } = this.#stages;
    if (rollups === undefined || retained || points.length === 0) return encoded;
    return { ...encoded, afterLogged: () => { for (const point of points) rollups.add(point, receivedAtMs); } };
  }

  #learnLocation(device: string, location: string): void {
    this.#stages.directory.learnLocation(device, location);
    if (this.#held?.has(device) === true) this.#located.push(device);
  }

  #presence(event: PresenceEvent, message: InboundMessage): Lines {
    const { directory, presence, stats, log } = this.#stages;
    if (directory.strict && !directory.isKnown(event.device)) {
      return reject('unknown_device', `device ${JSON.stringify(event.device)} is not in DEVICES_FILE, which is strict`);
    }
    const ignore = (why: string, afterLogged?: () => void): Lines => {
      stats.presenceIgnored += 1;
      log.debug({ device: event.device, source: event.source, online: event.online, reason: event.reason, why }, 'presence event changes nothing');
      return { ok: true, lines: [], ...(afterLogged && { afterLogged }) };
    };
    // A gateway user's client (a health check, or one connection per device it speaks for): a device only once the data says so.
    const unproven = this.#needsDevice(event) && !this.#isDevice(event.device);
    if (unproven && (this.#held === undefined || (message.qos ?? 0) !== 0)) return ignore('not_a_device');
    // After every (re)subscription the broker re-sends each retained status: the known state, not news.
    if (event.retained === true && judgeRetainedStatus(directory.lastStatus(event.device), event) === 'known') {
      this.#seen(event, message);
      return ignore('retained_known');
    }
    // What a status topic said is remembered (persistently) once its point is logged.
    const remember = event.source === 'lwt' ? () => directory.rememberStatus(event.device, { online: event.online, atMs: event.atMs }) : undefined;
    // Judged on arrival, in arrival order, like every event: a held event is not judged again when released.
    const verdict = presence.judge(event, message.receivedAtMs);
    const timed = !verdict.apply || verdict.atMs === event.atMs ? event : { ...event, atMs: verdict.atMs };
    // Encoded first, even when held or ignored: a point that cannot be written is a reject of this message,
    // and its device name or location must reach neither the book nor the directory.
    const location = event.location !== undefined && event.location !== '' ? event.location : undefined;
    const tags = directory.tagsFor(event.device);
    const encoded = encodePoints([presencePoint(timed, location !== undefined && !directory.hasRegistryLocation(event.device) ? { ...tags, location } : tags)]);
    if (!encoded.ok) return encoded;
    if (!unproven) this.#seen(event, message);
    if (!verdict.apply) return ignore(verdict.why, remember);
    if (location !== undefined) this.#learnLocation(event.device, location);
    if (unproven) {
      if (this.#held?.hold(timed) !== true) {
        presence.forget(event.device);
        return ignore('not_a_device');
      }
      this.#awaitingDevice.add(timed);
      log.debug({ device: event.device, username: event.username, online: event.online }, 'presence event of a gateway user\'s client held until it is known as a device');
      return { ok: true, lines: [] };
    }
    if (this.#mayHold(timed, message) && this.#held?.hold(timed) === true) {
      log.debug({ device: event.device, source: event.source, online: event.online, reason: event.reason }, 'presence event held until the device\'s location is known');
      return { ok: true, lines: [] };
    }
    directory.liveness.presence(event.device, event.online, timed.atMs, event.source, message.receivedAtMs);
    return { ...encoded, ...(remember && { afterLogged: remember }) };
  }

  /**
   * Any presence message is a message from the device, except a retained one
   * without a time of its own (it says nothing about now). An EMQX client
   * event is the broker's word, not data of the device's own.
   */
  #seen(event: PresenceEvent, message: InboundMessage): void {
    if (event.retained === true && event.timeFromPayload !== true) return;
    this.#stages.directory.liveness.seen(event.device, event.atMs, message.receivedAtMs, event.source !== 'emqx');
  }

  /** An EMQX event about a client logged in as a gateway user: its client id must prove to be a device. */
  #needsDevice(event: PresenceEvent): boolean {
    const { gatewayUsers } = this.#stages;
    return event.source === 'emqx' && event.username !== undefined && gatewayUsers !== undefined && gatewayUsers.has(event.username);
  }

  /** In the registry, or has sent something through any handler. */
  #isDevice(device: string): boolean {
    const { directory } = this.#stages;
    return directory.isKnown(device) || directory.liveness.has(device);
  }

  /**
   * Only EMQX events wait for a location: they come with QoS 0 (no
   * acknowledgement to delay) and never name one. A device already waiting
   * keeps its events in order.
   */
  #mayHold(event: PresenceEvent, message: InboundMessage): boolean {
    if (this.#held === undefined || event.source !== 'emqx' || (message.qos ?? 0) !== 0) return false;
    return this.#held.has(event.device) || !this.#stages.directory.hasLocation(event.device);
  }
}
