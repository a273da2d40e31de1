/**
 * The sink the sources feed. Routes each message by topic:
 *
 * - `$SYS/brokers/+/clients/+/connected|disconnected` → EMQX presence
 * - `sensors/{location}/{device}/status`              → device presence (birth / last will)
 * - anything else                                      → the telemetry decoder
 *
 * then writes the points to the write-ahead log. `accept()` settles when the
 * message may be acknowledged: its lines are in the log, or it was rejected
 * (redelivering it would fail the same way), or it was a presence event that
 * changes nothing (stale, or a session that moved).
 */
import type { Logger } from 'pino';
import { decodeEmqxPresence, isEmqxPresenceTopic } from '../decoders/presence-emqx.ts';
import { decodeStatusPresence, matchStatusTopic } from '../decoders/presence-status.ts';
import { aliasScope, decodeSparkplug, parseSparkplugTopic, type SparkplugTopic } from '../decoders/sparkplug.ts';
import { reject, type Decoder, type InboundMessage, type Rejection } from '../decoders/types.ts';
import type { DeviceDirectory } from '../directory/directory.ts';
import type { Point } from '../model/point.ts';
import type { PresenceEvent } from '../presence/event.ts';
import { presencePoint } from '../presence/to-point.ts';
import type { PresenceTracker } from '../presence/tracker.ts';
import type { MessageSink } from '../sources/mqtt.ts';
import { RecordTooLargeError, type WriteAheadLog } from '../wal/wal.ts';
import { rejectPoint } from './reject-point.ts';
import { RateLimiter, type RejectLog } from './rejects.ts';
import type { PipelineStats } from './stats.ts';
import { encodePoints } from './to-lines.ts';
import { encodePoint } from '../model/line-protocol.ts';

export interface IngestStages {
  readonly telemetry: Decoder;
  readonly wal: WriteAheadLog;
  readonly rejects: RejectLog;
  readonly stats: PipelineStats;
  readonly directory: DeviceDirectory;
  readonly presence: PresenceTracker;
  readonly log: Logger;
  /** Sparkplug B timestamps beyond this are rejected. */
  readonly maxFutureMs: number;
}

type Lines = { ok: true; lines: string[] } | Rejection;

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

export class Ingest implements MessageSink {
  readonly #stages: IngestStages;
  readonly #rejectPoints = new RateLimiter(REJECT_POINTS_PER_SECOND, Date.now());
  /** Sparkplug metric names by alias, per edge node and device, from their BIRTH. */
  readonly #sparkplugAliases = new Map<string, Map<string, string>>();

  constructor(stages: IngestStages) {
    this.#stages = stages;
  }

  /**
   * Synchronous when the log takes the lines at once (the hot path: no
   * promise per message); a promise only when the log must first make room,
   * or for a reject point.
   */
  accept(message: InboundMessage): Promise<void> | undefined {
    const { stats, wal } = this.#stages;
    stats.messagesIn += 1;
    const result = this.#toLines(message);
    if (!result.ok) return this.#reject(message, result, result.route ?? 'none');
    const count = result.lines.length;
    if (count === 0) return undefined;
    let waitForRoom: Promise<void> | undefined;
    try {
      waitForRoom = wal.append(result.lines);
    } catch (error) {
      if (!(error instanceof RecordTooLargeError)) throw error;
      return this.#reject(message, { reason: 'payload_too_large', error: error.message }, 'none');
    }
    if (waitForRoom === undefined) {
      stats.pointsAccepted += count;
      return undefined;
    }
    return waitForRoom.then(() => {
      stats.pointsAccepted += count;
    });
  }

  /** Counts and logs the reject, and records it as an `ingest_rejects` point while the budget allows. */
  async #reject(message: InboundMessage, rejection: Pick<Rejection, 'reason' | 'error'>, route: string): Promise<void> {
    const { rejects, wal } = this.#stages;
    rejects.record({ topic: message.topic, reason: rejection.reason, error: rejection.error });
    if (!this.#rejectPoints.tryTake(Date.now())) return;
    const point = rejectPoint({ ...message, ...rejection, route });
    await wal.append([encodePoint(point)]);
    this.#stages.stats.pointsAccepted += 1;
  }

  #toLines(message: InboundMessage): Lines {
    if (isEmqxPresenceTopic(message.topic)) {
      const decoded = decodeEmqxPresence(message);
      return decoded.ok ? this.#presence(decoded.event) : decoded;
    }
    if (matchStatusTopic(message.topic) !== null) {
      const decoded = decodeStatusPresence(message);
      return decoded.ok ? this.#presence(decoded.event) : decoded;
    }
    const sparkplugTopic = parseSparkplugTopic(message.topic);
    if (sparkplugTopic !== null) return this.#sparkplug(message, sparkplugTopic);
    return this.#telemetry(message);
  }

  #sparkplug(message: InboundMessage, topic: SparkplugTopic): Lines {
    const scope = aliasScope(topic);
    const decoded = decodeSparkplug(message, topic, this.#sparkplugAliases.get(scope), this.#stages.maxFutureMs);
    if (!decoded.ok) return { ...decoded, route: 'sparkplug' };
    if (decoded.aliases !== undefined) this.#sparkplugAliases.set(scope, decoded.aliases);
    const data = this.#enrich(decoded.points);
    if (!data.ok) return { ...data, route: 'sparkplug' };
    // Presence only once the data is good: a rejected message must not move the tracker.
    if (decoded.presence === undefined) return data;
    const presence = this.#presence(decoded.presence);
    return presence.ok ? { ok: true, lines: [...data.lines, ...presence.lines] } : { ...presence, route: 'sparkplug' };
  }

  #telemetry(message: InboundMessage): Lines {
    const decoded = this.#stages.telemetry(message);
    return decoded.ok ? this.#enrich(decoded.points) : decoded;
  }

  /** Strict registry check, location learned or filled in, registry tags added; then encoded. */
  #enrich(decodedPoints: readonly Point[]): Lines {
    const { directory } = this.#stages;
    const points: Point[] = [];
    for (const point of decodedPoints) {
      const { device, location } = point.tags;
      if (device !== undefined && directory.strict && !directory.isKnown(device)) {
        return reject('unknown_device', `device ${JSON.stringify(device)} is not in DEVICES_FILE, which is strict`);
      }
      if (device !== undefined && location !== undefined && location !== '') directory.learnLocation(device, location);
      // A layout without a location level: the directory's, or "unknown", never a missing tag.
      const located = device !== undefined && location === undefined ? { ...point, tags: { ...point.tags, location: directory.tagsFor(device).location } } : point;
      points.push(withRegistryTags(located, directory));
    }
    return encodePoints(points);
  }

  #presence(event: PresenceEvent): Lines {
    const { directory, presence, stats, log } = this.#stages;
    if (directory.strict && !directory.isKnown(event.device)) {
      return reject('unknown_device', `device ${JSON.stringify(event.device)} is not in DEVICES_FILE, which is strict`);
    }
    const verdict = presence.judge(event);
    if (!verdict.apply) {
      stats.presenceIgnored += 1;
      log.debug({ device: event.device, source: event.source, reason: event.reason, why: verdict.why }, 'presence event changes nothing');
      return { ok: true, lines: [] };
    }
    if (event.location !== undefined && event.location !== '') directory.learnLocation(event.device, event.location);
    return encodePoints([presencePoint(event, directory.tagsFor(event.device))]);
  }
}
