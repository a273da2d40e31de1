/**
 * grafana/thresholds.yaml, read and checked: the one file a user edits to
 * change what the alert rules (and the dashboards' bands) call abnormal.
 * Pure: text in, typed thresholds out, or a ThresholdsError naming the key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const THRESHOLDS_FILE = join(import.meta.dirname, '..', 'thresholds.yaml');

export class ThresholdsError extends Error {}

/** A duration as Grafana writes it (`for`, relative ranges): `30s`, `5m`, `1h`, `30d`. */
export interface Duration {
  readonly text: string;
  readonly seconds: number;
}

export interface Thresholds {
  /** How much of `device_state` the liveness rules and the Fleet overview read: a few intervals. */
  readonly deviceState: { readonly window: Duration };
  readonly presence: { readonly offlineWarningAfter: Duration; readonly offlineCriticalAfter: Duration };
  /** `afterByGroup`: per registry group, in the file's order. */
  readonly silence: { readonly after: Duration; readonly afterByGroup: ReadonlyMap<string, Duration>; readonly field: string };
  readonly readings: {
    readonly temperature: { readonly min: number; readonly max: number; readonly for: Duration };
    readonly humidity: { readonly min: number; readonly max: number; readonly for: Duration };
    readonly battery: { readonly min: number; readonly for: Duration };
  };
  readonly pipeline: {
    readonly window: Duration;
    readonly writeRetriesMax: number;
    readonly rejectsMax: number;
    readonly backlogMaxBytes: number;
    readonly backlogFor: Duration;
    readonly statsSilentAfter: Duration;
    /**
     * How far back "Ingestor not reporting" looks for instances: one that
     * reported within this and not for `statsSilentAfter` fires, for as long as
     * it stays dead, up to this long after its last stats. Optional, 30d.
     */
    readonly instanceRememberedFor: Duration;
    readonly telemetrySilentAfter: Duration;
    /** Catching up (no `device_state` tick) this long while reporting stats: liveness alerting is frozen. Whole minutes. */
    readonly livenessStalledAfter: Duration;
  };
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

export function parseDuration(key: string, raw: unknown): Duration {
  const match = typeof raw === 'string' ? /^(\d+)(s|m|h|d)$/.exec(raw.trim()) : null;
  if (match === null) throw new ThresholdsError(`${key}: expected a duration such as 30s, 5m, 1h or 30d, got ${JSON.stringify(raw)}`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  if (seconds <= 0) throw new ThresholdsError(`${key}: must be longer than 0, got ${JSON.stringify(raw)}`);
  return { text: `${match[1]}${match[2]}`, seconds };
}

/** The stalled-liveness rule counts one-minute buckets: whole minutes, at least two. */
function wholeMinutes(key: string, raw: unknown): Duration {
  const duration = parseDuration(key, raw);
  if (duration.seconds % 60 !== 0 || duration.seconds < 120) throw new ThresholdsError(`${key}: expected whole minutes, at least 2m (the rule counts one-minute buckets), got ${JSON.stringify(raw)}`);
  return duration;
}

function section(document: unknown, key: string): Record<string, unknown> {
  const value = (document as Record<string, unknown> | null)?.[key];
  if (typeof value !== 'object' || value === null) throw new ThresholdsError(`${key}: expected a mapping`);
  return value as Record<string, unknown>;
}

function number(key: string, raw: unknown): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) throw new ThresholdsError(`${key}: expected a number, got ${JSON.stringify(raw)}`);
  return raw;
}

function name(key: string, raw: unknown): string {
  // Goes into InfluxQL as a double-quoted identifier.
  if (typeof raw !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(raw)) throw new ThresholdsError(`${key}: expected a field name (letters, digits, _), got ${JSON.stringify(raw)}`);
  return raw;
}

function range(key: string, raw: Record<string, unknown>): { min: number; max: number; for: Duration } {
  const min = number(`${key}.min`, raw.min);
  const max = number(`${key}.max`, raw.max);
  if (min >= max) throw new ThresholdsError(`${key}: min (${min}) must be below max (${max})`);
  return { min, max, for: parseDuration(`${key}.for`, raw.for) };
}

/** `{ group: duration }` (absent or `{}`: no override). Group names go into InfluxQL regexes, escaped. */
function groupDurations(key: string, raw: unknown): ReadonlyMap<string, Duration> {
  if (raw === undefined || raw === null) return new Map();
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ThresholdsError(`${key}: expected a mapping of group name to duration, e.g. { gateways: 30m }, got ${JSON.stringify(raw)}`);
  const durations = new Map<string, Duration>();
  for (const [group, value] of Object.entries(raw as Record<string, unknown>)) {
    if (group === '') throw new ThresholdsError(`${key}: a group name must not be empty`);
    durations.set(group, parseDuration(`${key}.${group}`, value));
  }
  return durations;
}

export function parseThresholds(text: string): Thresholds {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new ThresholdsError(`not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const presence = section(document, 'presence');
  const silence = section(document, 'silence');
  const readings = section(document, 'readings');
  const pipeline = section(document, 'pipeline');
  const warning = parseDuration('presence.offline_warning_after', presence.offline_warning_after);
  const critical = parseDuration('presence.offline_critical_after', presence.offline_critical_after);
  if (critical.seconds <= warning.seconds) throw new ThresholdsError('presence.offline_critical_after: must be longer than offline_warning_after');
  // The lookbacks of the presence-based rules (before device_state): a file
  // kept from then is told what changed instead of being half-read.
  for (const [key, value] of [['presence.lookback', presence.lookback], ['silence.lookback', silence.lookback]] as const) {
    if (value !== undefined) throw new ThresholdsError(`${key}: no longer used (the rules read device_state, which keeps every known device until DEVICE_FORGET_AFTER); remove it`);
  }
  const deviceState = section(document, 'device_state');
  const window = parseDuration('device_state.window', deviceState.window);
  const battery = section(readings, 'battery');
  return {
    deviceState: { window },
    presence: { offlineWarningAfter: warning, offlineCriticalAfter: critical },
    silence: {
      after: parseDuration('silence.after', silence.after),
      afterByGroup: groupDurations('silence.after_by_group', silence.after_by_group),
      field: name('silence.field', silence.field),
    },
    readings: {
      temperature: range('readings.temperature', section(readings, 'temperature')),
      humidity: range('readings.humidity', section(readings, 'humidity')),
      battery: { min: number('readings.battery.min', battery.min), for: parseDuration('readings.battery.for', battery.for) },
    },
    pipeline: {
      window: parseDuration('pipeline.window', pipeline.window),
      writeRetriesMax: number('pipeline.write_retries_max', pipeline.write_retries_max),
      rejectsMax: number('pipeline.rejects_max', pipeline.rejects_max),
      backlogMaxBytes: number('pipeline.backlog_max_bytes', pipeline.backlog_max_bytes),
      backlogFor: parseDuration('pipeline.backlog_for', pipeline.backlog_for),
      statsSilentAfter: parseDuration('pipeline.stats_silent_after', pipeline.stats_silent_after),
      instanceRememberedFor: pipeline.instance_remembered_for === undefined ? { text: '30d', seconds: 30 * 86_400 } : parseDuration('pipeline.instance_remembered_for', pipeline.instance_remembered_for),
      telemetrySilentAfter: parseDuration('pipeline.telemetry_silent_after', pipeline.telemetry_silent_after),
      livenessStalledAfter: wholeMinutes('pipeline.liveness_stalled_after', pipeline.liveness_stalled_after),
    },
  };
}

export function loadThresholds(file = THRESHOLDS_FILE): Thresholds {
  return parseThresholds(readFileSync(file, 'utf8'));
}
