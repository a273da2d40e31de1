/**
 * Writes `device_state`: every DEVICE_STATE_INTERVAL_S, one point per device
 * in the liveness book, through the write-ahead log like every other point
 * (the `ingestor_stats` pattern of main.ts). At the same tick:
 *
 * - the forget rule (DEVICE_FORGET_AFTER): a device with no message for that
 *   long leaves the book and the directory, with one info log line and a
 *   last point `state="forgotten"`; `devices_forgotten` in `ingestor_stats`
 *   counts them. Nothing else forgets a device;
 * - the directory (liveness and who is in trouble included) is saved, so a
 *   restart keeps every duration and every "left trouble" point;
 * - `device_trouble` (docs/liveness.md): one point per device in trouble
 *   (offline, or silent for DEVICE_TROUBLE_SILENT_AFTER: `inTrouble`), one
 *   last "cleared" point for each device that left trouble (or was
 *   forgotten) since the last written tick (before a restart, too), and
 *   one heartbeat of the instance. The device alert rules read only this, so what they cost and
 *   the series they return follow the devices in trouble, not the fleet.
 *
 * Skipped while catching up (liveness/catch-up.ts: the rule and why),
 * with one log line when it starts and one when it ends, and counted
 * (`device_state_skipped`, `catching_up` in `ingestor_stats`); skipped too
 * while the log takes nothing (full, or the disk refuses). Never throws: a
 * timer's uncaught error would end the process.
 *
 * Each device on its own: one whose point cannot be written (a name or
 * location line protocol cannot carry) is skipped, logged once and counted
 * (`device_state_invalid`); it never costs the others their tick.
 *
 * In a shared group (MQTT_SHARED_GROUP) a member writes a device only when
 * it has data of the device's own (telemetry, a status topic, Sparkplug) or
 * the registry gives its location: EMQX's client events reach every member
 * but name no location, and a member with only those would write a series
 * with another label set (no location) and the silence since the connection,
 * which the rules' min() never merges with the view of the member that has
 * the device's data (docs/liveness.md, several ingestors).
 */
import type { Logger } from 'pino';
import type { LineLog } from '../contracts.ts';
import type { DeviceDirectory } from '../directory/directory.ts';
import { encodePoint } from '../model/line-protocol.ts';
import type { PipelineStats } from '../pipeline/stats.ts';
import type { LivenessEntry } from './book.ts';
import { catchingUp, type CatchingUp, type LagCounter } from './catch-up.ts';
import { deviceStatePoint, deviceTroublePoint, inTrouble, tickTimeMs, troubleHeartbeatPoint } from './to-point.ts';

/** Ticks of an unbroken backlog after which a warning says the rule may be wrong for this fleet. */
const LONG_BACKLOG_TICKS = 10;

/** Devices handled between two yields to the event loop during a tick. */
const YIELD_EVERY_DEVICES = 2000;

/** Lines per log record: small enough for any log segment (at least 64 KiB). */
const MAX_RECORD_BYTES = 32 * 1024;

export interface LivenessTickerOptions {
  /** DEVICE_STATE_INTERVAL_S, in ms. */
  readonly intervalMs: number;
  /** DEVICE_FORGET_AFTER in ms; undefined: never. */
  readonly forgetAfterMs: number | undefined;
  /** DEVICE_TROUBLE_SILENT_AFTER in ms: a device this silent is in `device_trouble`. */
  readonly troubleSilentAfterMs: number;
  /** The `instance` tag: the same as `ingestor_stats`'s. */
  readonly instance: string;
  readonly directory: DeviceDirectory;
  readonly wal: LineLog;
  /** False while the log takes nothing (full, or the disk refuses). */
  readonly canAppend: () => boolean;
  readonly stats: PipelineStats;
  readonly lag: LagCounter;
  /** The MQTT source: connected now, and how many connections it has made so far. */
  readonly broker: { readonly connected: boolean; readonly connections: number };
  readonly log: Logger;
  /** MQTT_SHARED_GROUP is set: write a device only with data of its own, or its location from the registry. */
  readonly sharedGroup: boolean;
  readonly now?: () => number;
}

export type TickOutcome =
  | { readonly kind: 'written'; readonly tickMs: number; readonly devices: number; readonly forgotten: readonly string[]; readonly inTrouble: number }
  | { readonly kind: 'skipped'; readonly why: CatchingUp | 'log_full' | 'busy' };

export class LivenessTicker {
  readonly #options: LivenessTickerOptions;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #connectionsAtLastTick: number;
  #catchingUp: CatchingUp | undefined;
  #catchingUpSinceMs = 0;
  #warnedLongBacklog = false;
  /** Devices whose point could not be written, logged once each. */
  readonly #warnedInvalid = new Set<string>();

  constructor(options: LivenessTickerOptions) {
    this.#options = options;
    this.#connectionsAtLastTick = 0;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One tick now. Exposed for tests; the timer calls it. */
  async tick(): Promise<TickOutcome> {
    if (this.#busy) return { kind: 'skipped', why: 'busy' };
    this.#busy = true;
    try {
      return await this.#tick();
    } catch (error) {
      this.#options.log.warn({ error: (error as Error).message }, 'could not log the device_state points');
      return { kind: 'skipped', why: 'log_full' };
    } finally {
      this.#busy = false;
    }
  }

  async #tick(): Promise<TickOutcome> {
    const { directory, stats, lag, broker, log, intervalMs } = this.#options;
    const nowMs = (this.#options.now ?? Date.now)();
    const connections = broker.connections;
    const why = catchingUp({ brokerConnected: broker.connected, reconnected: connections !== this.#connectionsAtLastTick, timedMessages: lag.timed, lateMessages: lag.late });
    this.#connectionsAtLastTick = connections;
    this.#noteCatchingUp(why, nowMs, lag);
    lag.reset();
    if (why !== undefined) {
      stats.deviceStateSkipped += 1;
      return { kind: 'skipped', why };
    }
    if (!this.#options.canAppend()) {
      stats.deviceStateSkipped += 1;
      return { kind: 'skipped', why: 'log_full' };
    }
    const tickMs = tickTimeMs(nowMs, intervalMs);
    const forgotten = this.#options.forgetAfterMs === undefined ? [] : directory.liveness.forget(tickMs, this.#options.forgetAfterMs);
    let record: string[] = [];
    let bytes = 0;
    let devices = 0;
    const flush = async (): Promise<void> => {
      if (record.length === 0) return;
      const lines = record;
      record = [];
      bytes = 0;
      await this.#options.wal.append(lines);
      stats.pointsAccepted += lines.length;
    };
    const add = async (line: string): Promise<void> => {
      if (bytes + line.length + 1 > MAX_RECORD_BYTES) await flush();
      record.push(line);
      bytes += line.length + 1;
    };
    for (const { device, entry, silentMs } of forgotten) {
      const lastSeen = entry.lastSeenMs === undefined ? null : new Date(entry.lastSeenMs).toISOString();
      log.info({ device, silentS: Math.floor(silentMs / 1000), silentFor: humanDuration(silentMs), lastSeen }, `forgetting device ${device}: no message for ${humanDuration(silentMs)} (DEVICE_FORGET_AFTER)`);
      const line = this.#speaksFor(device, entry) ? this.#line(device, entry, tickMs, 'forgotten') : undefined;
      if (line !== undefined) await add(line);
      if (directory.troubled.has(device)) {
        const cleared = this.#troubleLine(device, entry, tickMs, true, 'forgotten');
        if (cleared !== undefined) await add(cleared);
      }
      directory.forgetLearned(device);
      this.#warnedInvalid.delete(device);
      stats.devicesForgotten += 1;
    }
    // A snapshot: messages handled while a record waits for room may add devices.
    const troubled = new Set<string>();
    let visited = 0;
    for (const [device, entry] of [...directory.liveness.entries()]) {
      // Let messages in between (a log record that takes no I/O does not): 100,000 devices are ~0.5 s of work.
      if (++visited % YIELD_EVERY_DEVICES === 0) await new Promise((resolve) => setImmediate(resolve));
      if (!this.#speaksFor(device, entry)) continue;
      const line = this.#line(device, entry, tickMs);
      if (line === undefined) continue;
      await add(line);
      devices += 1;
      const trouble = inTrouble(entry, tickMs, this.#options.troubleSilentAfterMs);
      if (!trouble && !directory.troubled.has(device)) continue;
      const troubleLine = this.#troubleLine(device, entry, tickMs, !trouble);
      if (troubleLine === undefined) continue;
      await add(troubleLine);
      if (trouble) troubled.add(device);
    }
    await add(encodePoint(troubleHeartbeatPoint(this.#options.instance, tickMs, devices, troubled.size)));
    await flush();
    // Each device that was in trouble and is no longer got one "cleared" point above. Saved with the book
    // (directory.ts), so that this holds across a restart: a device that left trouble while the ingestor
    // was down gets its cleared point at the first tick written after it.
    directory.troubled = troubled;
    stats.deviceStateTicks += 1;
    // Not awaited: the file is written off the event loop while messages flow; a save still running makes this one wait for it.
    void directory.save();
    return { kind: 'written', tickMs, devices, forgotten: forgotten.map((f) => f.device), inTrouble: troubled.size };
  }

  /** Outside a shared group always; in one, only with data of the device's own or its location from the registry. */
  #speaksFor(device: string, entry: Readonly<LivenessEntry>): boolean {
    return !this.#options.sharedGroup || entry.ownData || this.#options.directory.hasRegistryLocation(device);
  }

  /** The device's line, or undefined (logged once per device, counted) when line protocol cannot carry it. */
  #line(device: string, entry: Readonly<LivenessEntry>, tickMs: number, state?: string): string | undefined {
    const { directory, instance, stats, log } = this.#options;
    try {
      return encodePoint(deviceStatePoint(device, entry, tickMs, instance, directory.whereIs(device), state));
    } catch (error) {
      stats.deviceStateInvalid += 1;
      if (!this.#warnedInvalid.has(device)) {
        this.#warnedInvalid.add(device);
        log.warn({ device, error: (error as Error).message }, 'a device\'s device_state point cannot be written; that device is skipped at every tick');
      }
      return undefined;
    }
  }

  /** The device's `device_trouble` line (undefined when its device_state line could not be written either: same tags). */
  #troubleLine(device: string, entry: Readonly<LivenessEntry>, tickMs: number, cleared: boolean, state?: string): string | undefined {
    try {
      return encodePoint(deviceTroublePoint(device, entry, tickMs, this.#options.instance, this.#options.directory.whereIs(device), cleared, state));
    } catch {
      return undefined; // counted and logged once by #line, which fails on the same tags
    }
  }

  /** One log line when catching up starts (with why) and one when it ends; the `catching_up` gauge. */
  #noteCatchingUp(why: CatchingUp | undefined, nowMs: number, lag: { readonly timed: number; readonly late: number }): void {
    const { stats, log } = this.#options;
    stats.catchingUp = why !== undefined;
    if (why === this.#catchingUp) {
      // A backlog that never ends is more likely devices (or this host) whose clocks are off, or gateways that always forward late.
      if (why === 'backlog' && !this.#warnedLongBacklog && nowMs - this.#catchingUpSinceMs >= LONG_BACKLOG_TICKS * this.#options.intervalMs) {
        this.#warnedLongBacklog = true;
        log.warn({ forS: Math.round((nowMs - this.#catchingUpSinceMs) / 1000), timedMessages: lag.timed, lateMessages: lag.late },
          'still catching up a backlog: most messages keep arriving older than DEVICE_STATE_MAX_LAG_S, so no device_state is written; if they are late by design (store-and-forward gateways) or a clock is wrong, raise DEVICE_STATE_MAX_LAG_S or fix the clock');
      }
      return;
    }
    this.#warnedLongBacklog = false;
    if (why !== undefined && this.#catchingUp === undefined) {
      this.#catchingUpSinceMs = nowMs;
      log.info({ why, timedMessages: lag.timed, lateMessages: lag.late }, `catching up (${why}): device_state ticks are skipped until the ingestor has caught up`);
    } else if (why === undefined) {
      log.info({ forS: Math.round((nowMs - this.#catchingUpSinceMs) / 1000) }, 'caught up: device_state ticks are written again');
    } else {
      log.info({ why }, `still catching up (${why})`);
    }
    this.#catchingUp = why;
  }
}

/** 3d 4h, 2h 5m, 90s: for the log line. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
