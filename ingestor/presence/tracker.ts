/**
 * Decides which presence events change a device's state. Newest wins:
 * - an event older than the last one applied for the device is stale,
 *   whatever its source;
 * - an EMQX `disconnected` about a connection older than the last
 *   `connected` seen is stale (EMQX events can arrive out of order);
 * - a session that moved (`takenover`, `discarded`) is not the device leaving.
 */
import type { PresenceEvent } from './event.ts';

export type Verdict = { readonly apply: true } | { readonly apply: false; readonly why: 'stale' | 'session_moved' };

interface DeviceState {
  lastAtMs: number;
  lastConnectedAtMs: number;
}

export class PresenceTracker {
  readonly #devices = new Map<string, DeviceState>();

  judge(event: PresenceEvent): Verdict {
    if (event.sessionMoved) return { apply: false, why: 'session_moved' };
    const state = this.#devices.get(event.device);
    if (state !== undefined) {
      if (event.atMs < state.lastAtMs) return { apply: false, why: 'stale' };
      if (!event.online && event.connectedAtMs !== undefined && event.connectedAtMs < state.lastConnectedAtMs) {
        return { apply: false, why: 'stale' };
      }
    }
    const next = state ?? { lastAtMs: 0, lastConnectedAtMs: 0 };
    next.lastAtMs = event.atMs;
    if (event.online && event.connectedAtMs !== undefined) next.lastConnectedAtMs = Math.max(next.lastConnectedAtMs, event.connectedAtMs);
    this.#devices.set(event.device, next);
    return { apply: true };
  }
}
