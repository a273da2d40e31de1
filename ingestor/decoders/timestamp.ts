/**
 * Payload timestamps → epoch milliseconds.
 *
 * Devices send ISO-8601 dates, or epoch seconds, milliseconds, microseconds or
 * nanoseconds; the unit is told apart by magnitude, which is unambiguous for any date between 2000 and
 * a few thousand years from now. A timestamp outside [2000-01-01, receive time
 * + maxFutureMs] is refused rather than stored: a device with a dead RTC
 * reporting 1970 would otherwise write points no dashboard ever shows.
 */
import { reject, type Rejection } from '../contracts.ts';

export const EARLIEST_TIMESTAMP_MS = Date.UTC(2000, 0, 1);
/** 2026-11-22T12:00:00Z, …T12:00:00.123+08:00, …T12:00Z: a date, a time and a zone, always. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
/** @default one day: generous for drifting device clocks, tight enough to catch unit mistakes. */
export const DEFAULT_MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

export function epochToMs(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude < 1e11) return Math.round(value * 1e3); // seconds
  if (magnitude < 1e14) return Math.round(value); // milliseconds
  if (magnitude < 1e17) return Math.round(value / 1e3); // microseconds
  return Math.round(value / 1e6); // nanoseconds
}

/** Every handler passes the same `maxFutureMs` (DecodeBounds, from TIMESTAMP_MAX_FUTURE_MS): no default here. */
export function resolveTimestampMs(raw: unknown, receivedAtMs: number, maxFutureMs: number): { ok: true; ms: number } | Rejection {
  if (raw === undefined) return { ok: true, ms: receivedAtMs };
  let ms: number;
  if (typeof raw === 'string' && ISO_8601.test(raw)) {
    ms = Date.parse(raw);
    if (!Number.isFinite(ms)) return reject('bad_timestamp', `timestamp ${JSON.stringify(raw)} is not a valid date`);
  } else if (typeof raw === 'number' && Number.isFinite(raw)) {
    ms = epochToMs(raw);
  } else {
    return reject('bad_timestamp', `timestamp ${JSON.stringify(raw) ?? typeof raw} is neither an epoch number nor an ISO-8601 date`);
  }
  if (ms < EARLIEST_TIMESTAMP_MS) {
    return reject('bad_timestamp', `timestamp ${raw} is before 2000-01-01`);
  }
  if (ms > receivedAtMs + maxFutureMs) {
    return reject('bad_timestamp', `timestamp ${raw} is more than ${maxFutureMs} ms after the receive time`);
  }
  return { ok: true, ms };
}
