/**
 * A device's liveness at a tick → its `device_state` point. Pure.
 * The data model (types fixed: Grafana's rules and dashboards read them) is
 * in docs/liveness.md; integers are written as integers (`…i`).
 */
import { encodePoint } from '../model/line-protocol.ts';
import { str, type FieldValue, type Point } from '../model/point.ts';
import { stateOf, type LivenessEntry } from './book.ts';

export const DEVICE_STATE_MEASUREMENT = 'device_state';

const int = (value: number): FieldValue => ({ kind: 'int', value: BigInt(Math.trunc(value)) });
const seconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

/** Where the device is: absent tags are omitted (an empty tag value is invalid). */
export interface DeviceStateTags {
  readonly location?: string | undefined;
  readonly group?: string | undefined;
}

/** `device_state` and `device_trouble` carry the same tags, so the same Location / Group / Device filters select both. */
function placeTags(device: string, where: DeviceStateTags, instance: string): Record<string, string> {
  return {
    device,
    ...(where.location !== undefined && where.location !== '' && { location: where.location }),
    ...(where.group !== undefined && where.group !== '' && { group: where.group }),
    instance,
  };
}

/**
 * `state` is the entry's (online / offline / unknown) unless given: the
 * forget rule writes one last point with `state="forgotten"`.
 */
export function deviceStatePoint(device: string, entry: Readonly<LivenessEntry>, tickMs: number, instance: string, where: DeviceStateTags, state: string = stateOf(entry)): Point {
  const known = entry.online !== undefined;
  return {
    measurement: DEVICE_STATE_MEASUREMENT,
    tags: placeTags(device, where, instance),
    fields: {
      state: str(state),
      online: int(known ? (entry.online ? 1 : 0) : -1),
      offline_s: int(entry.online === false ? seconds(tickMs - entry.sinceMs) : 0),
      // None without a message that has a time: InfluxQL's min() skips a missing field, so another member's view wins.
      ...(entry.lastSeenMs !== undefined && { silent_s: int(seconds(tickMs - entry.lastSeenMs)), last_seen: int(entry.lastSeenMs) }),
      since: int(known ? entry.sinceMs : entry.firstSeenMs),
      source: str(entry.source),
    },
    timestampMs: tickMs,
  };
}

/** The tick's time: now floored to the interval, so a tick written twice overwrites itself. */
export const tickTimeMs = (nowMs: number, intervalMs: number): number => Math.floor(nowMs / intervalMs) * intervalMs;

/** Line protocol can carry `value` as a tag value (no control character, no ambiguous backslash, not empty): line-protocol.ts decides. */
export function isWritableTag(value: string): boolean {
  try {
    encodePoint({ measurement: DEVICE_STATE_MEASUREMENT, tags: { device: value }, fields: { online: int(0) }, timestampMs: 0 });
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------ device_trouble

export const DEVICE_TROUBLE_MEASUREMENT = 'device_trouble';

/**
 * Whether a device is in trouble at a tick, in this instance's view: its
 * presence says offline, or its newest message is `silentAfterMs` or more
 * old (with or without a presence source). A device whose silence is not
 * known (only a retained status without a time of its own) is in trouble
 * only when offline. Pure.
 */
export function inTrouble(entry: Readonly<LivenessEntry>, tickMs: number, silentAfterMs: number): boolean {
  return entry.online === false || (entry.lastSeenMs !== undefined && tickMs - entry.lastSeenMs >= silentAfterMs);
}

/**
 * A device's `device_trouble` point (docs/liveness.md): the same tags as
 * `device_state` and its fields state / online / offline_s / silent_s /
 * last_seen / since. `silent_s` is always there (0 while no message with a
 * time says anything about now: such a device is in trouble only as
 * offline, which the silence rule leaves to the offline rules), so no rule
 * ever computes nil from it (a nil would be NoData for that device, and
 * KeepLast would keep a firing alert firing: issue 23, finding 10).
 *
 * `cleared`: the one last point after the device left trouble (or was
 * forgotten): offline_s = 0 and silent_s = 0, so every rule resolves at its
 * next evaluation instead of waiting for the series to go stale.
 */
export function deviceTroublePoint(device: string, entry: Readonly<LivenessEntry>, tickMs: number, instance: string, where: DeviceStateTags, cleared = false, state: string = stateOf(entry)): Point {
  const known = entry.online !== undefined;
  return {
    measurement: DEVICE_TROUBLE_MEASUREMENT,
    tags: placeTags(device, where, instance),
    fields: {
      state: str(state),
      online: int(known ? (entry.online ? 1 : 0) : -1),
      offline_s: int(!cleared && entry.online === false ? seconds(tickMs - entry.sinceMs) : 0),
      silent_s: int(!cleared && entry.lastSeenMs !== undefined ? seconds(tickMs - entry.lastSeenMs) : 0),
      ...(entry.lastSeenMs !== undefined && { last_seen: int(entry.lastSeenMs) }),
      since: int(known ? entry.sinceMs : entry.firstSeenMs),
    },
    timestampMs: tickMs,
  };
}

/**
 * The instance's heartbeat in `device_trouble`: tag `instance` only (no
 * `device`), never in trouble (online 1, offline_s 0, silent_s 0). It keeps
 * every device rule's result non-empty while an ingestor reports, so that
 * "nobody is in trouble" is Normal, not NoData (Grafana 12.0.2 makes an
 * empty result NoData for every instance).
 */
export function troubleHeartbeatPoint(instance: string, tickMs: number, devices: number, troubled: number): Point {
  return {
    measurement: DEVICE_TROUBLE_MEASUREMENT,
    tags: { instance },
    fields: { online: int(1), offline_s: int(0), silent_s: int(0), devices: int(devices), in_trouble: int(troubled) },
    timestampMs: tickMs,
  };
}
