/**
 * Payload timestamps → epoch milliseconds.
 *
 * Devices send seconds, milliseconds, microseconds or nanoseconds; the unit is
 * told apart by magnitude, which is unambiguous for any date between 2000 and
 * a few thousand years from now. A timestamp outside [2000-01-01, receive time
 * + maxFutureMs] is refused rather than stored: a device with a dead RTC
 * reporting 1970 would otherwise write points no dashboard ever shows.
 */
import { reject, type Rejection } from './types.ts';

export const EARLIEST_TIMESTAMP_MS = Date.UTC(2000, 0, 1);
/** @default one day: generous for drifting device clocks, tight enough to catch unit mistakes. */
export const DEFAULT_MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

export function epochToMs(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude < 1e11) return Math.round(value * 1e3); // seconds
  if (magnitude < 1e14) return Math.round(value); // milliseconds
  if (magnitude < 1e17) return Math.round(value / 1e3); // microseconds
  return Math.round(value / 1e6); // nanoseconds
}

export function resolveTimestampMs(
  raw: unknown,
  receivedAtMs: number,
  maxFutureMs: number = DEFAULT_MAX_FUTURE_MS,
): { ok: true; ms: number } | Rejection {
  if (raw === undefined) return { ok: true, ms: receivedAtMs };
  if (typeof raw !== 'number' || !Number.isFinite(raw)) {
    return reject('bad_timestamp', `timestamp ${JSON.stringify(raw) ?? typeof raw} is not an epoch number`);
  }
  const ms = epochToMs(raw);
  if (ms < EARLIEST_TIMESTAMP_MS) {
    return reject('bad_timestamp', `timestamp ${raw} is before 2000-01-01`);
  }
  if (ms > receivedAtMs + maxFutureMs) {
    return reject('bad_timestamp', `timestamp ${raw} is more than ${maxFutureMs} ms after the receive time`);
  }
  return { ok: true, ms };
}
