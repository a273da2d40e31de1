/**
 * Decides which presence events change a device's state. Newest wins:
 * - an event older than the last one applied for the device is stale,
 *   whatever its source;
 * - an EMQX `disconnected` about a connection older than the last
 *   `connected` seen is stale (EMQX events can arrive out of order);
 * - a session that moved (`takenover`, `discarded`) is not the device leaving.
 *
 * A change of state in the same millisecond as the last one applied (a device
 * that connects and drops at once) is written 1 ms later: a point's identity
 * is its tags and time, so at the same time the second would overwrite the
 * first in InfluxDB and the timeline would lose a transition. A repeat of the
 * same state at the same time keeps its time, so a redelivered event still
 * overwrites itself.
 *
 * "Older" is judged on each event's time clamped to when it was received: a
 * device clock ahead of ours (payload times are accepted up to
 * TIMESTAMP_MAX_FUTURE_MS ahead) must not make the real last will that
 * follows look stale. The point keeps the event's own time.
 */
import type { PresenceEvent } from './event.ts';

export type Verdict =
  | { readonly apply: true; /** When to write it: the event's time, or 1 ms after a change in the same millisecond. */ readonly atMs: number }
  | { readonly apply: false; readonly why: 'stale' | 'session_moved' };

interface DeviceState {
  lastAtMs: number;
  /** `lastAtMs` clamped to its receive time: what "older" is judged against. */
  lastOrderMs: number;
  lastOnline: boolean | undefined;
  lastConnectedAtMs: number;
}

export class PresenceTracker {
  readonly #devices = new Map<string, DeviceState>();

  /** Drops what is known about a client that turned out to be no device. */
  forget(device: string): void {
    this.#devices.delete(device);
  }

  /** `receivedAtMs`: when the message that said it arrived (its time is clamped to it for ordering). */
  judge(event: PresenceEvent, receivedAtMs = Number.POSITIVE_INFINITY): Verdict {
    if (event.sessionMoved) return { apply: false, why: 'session_moved' };
    const state = this.#devices.get(event.device);
    const orderMs = Math.min(event.atMs, receivedAtMs);
    if (state !== undefined) {
      if (orderMs < state.lastOrderMs) return { apply: false, why: 'stale' };
      if (!event.online && event.connectedAtMs !== undefined && event.connectedAtMs < state.lastConnectedAtMs) {
        return { apply: false, why: 'stale' };
      }
    }
    const next = state ?? { lastAtMs: 0, lastOrderMs: 0, lastOnline: undefined, lastConnectedAtMs: 0 };
    const atMs = state !== undefined && event.atMs === state.lastAtMs && event.online !== state.lastOnline ? event.atMs + 1 : event.atMs;
    next.lastAtMs = atMs;
    next.lastOrderMs = Math.min(atMs, receivedAtMs);
    next.lastOnline = event.online;
    if (event.online && event.connectedAtMs !== undefined) next.lastConnectedAtMs = Math.max(next.lastConnectedAtMs, event.connectedAtMs);
    this.#devices.set(event.device, next);
    return { apply: true, atMs };
  }
}
