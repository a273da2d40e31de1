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

/**
 * `state` is the entry's (online / offline / unknown) unless given: the
 * forget rule writes one last point with `state="forgotten"`.
 */
export function deviceStatePoint(device: string, entry: Readonly<LivenessEntry>, tickMs: number, instance: string, where: DeviceStateTags, state: string = stateOf(entry)): Point {
  const known = entry.online !== undefined;
  return {
    measurement: DEVICE_STATE_MEASUREMENT,
    tags: {
      device,
      ...(where.location !== undefined && where.location !== '' && { location: where.location }),
      ...(where.group !== undefined && where.group !== '' && { group: where.group }),
      instance,
    },
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
