/**
 * The liveness book: for every device that has sent anything through any
 * handler, what the data says about it. Pure state, no I/O, no clock: every
 * time comes from the caller (a message's own time, a tick's time).
 *
 * - `lastSeenMs`: the newest message's time. A message's time is its payload
 *   timestamp when it has one, so a backlog replayed after an outage does
 *   not make a dead device look alive; else its receive time. Newest wins:
 *   an older message (a backlog, a retained status) never moves it back.
 *   Undefined while the only thing known is a retained status without a
 *   time of its own: the broker re-sends it at every subscription, so it
 *   says nothing about when the device last spoke.
 * - every time is clamped to the receive time: a device clock ahead of ours
 *   (payload times are accepted up to TIMESTAMP_MAX_FUTURE_MS ahead) would
 *   otherwise keep a dead device's silence at 0, or make a real last will
 *   look older than a status "from the future".
 * - `ownData`: a message of the device's own reached this ingestor
 *   (telemetry, a status topic, Sparkplug), not only EMQX's client events.
 *   In a shared group only then does a member write the device's
 *   `device_state` (liveness/ticker.ts).
 * - presence: the newest presence event's state and since when it holds
 *   (the event's own time). A repeat of the same state keeps `sinceMs`; an
 *   event older than the newest applied is stale and changes nothing, except
 *   that one saying the same as the first state ever known moves its
 *   `sinceMs` back (an EMQX `connected` held until the device's birth
 *   message, newer, proved it a device).
 * - a device with no presence event ever is `unknown` (a telemetry-only
 *   device behind a gateway); its `since` is when it was first seen.
 *
 * The hot path (`seen`) is one map lookup and a comparison; an entry is
 * allocated only the first time a device is seen.
 */
import type { PresenceSource } from '../presence/event.ts';

export type LivenessSource = PresenceSource | 'none';

export interface LivenessEntry {
  /** Epoch ms of the newest message (payload time, else receive time); undefined: none with a time that says anything about now. */
  lastSeenMs: number | undefined;
  /** Epoch ms of the oldest message seen (or first look): `since` of a device without presence. */
  firstSeenMs: number;
  /** A message of the device's own (not only EMQX client events) reached this ingestor. */
  ownData: boolean;
  /** The newest presence state; undefined: no presence source (unknown). */
  online: boolean | undefined;
  /** Epoch ms of the last presence state change (the event's own time). */
  sinceMs: number;
  /** Epoch ms of the newest presence event applied: older ones are stale. */
  presenceAtMs: number;
  source: LivenessSource;
  /**
   * The state is the first presence state known (no change seen since):
   * an older event that says the same, arriving late (held), moves `sinceMs`
   * back. Not saved: after a restart, late events never move it.
   */
  firstState?: boolean;
}

export type LivenessState = 'online' | 'offline' | 'unknown';

export const stateOf = (entry: Pick<LivenessEntry, 'online'>): LivenessState => (entry.online === undefined ? 'unknown' : entry.online ? 'online' : 'offline');

/** A device removed by the forget rule, with how long it had been silent. */
export interface Forgotten {
  readonly device: string;
  readonly entry: LivenessEntry;
  readonly silentMs: number;
}

export class LivenessBook {
  readonly #devices = new Map<string, LivenessEntry>();

  get size(): number {
    return this.#devices.size;
  }

  has(device: string): boolean {
    return this.#devices.has(device);
  }

  get(device: string): Readonly<LivenessEntry> | undefined {
    return this.#devices.get(device);
  }

  entries(): IterableIterator<[string, Readonly<LivenessEntry>]> {
    return this.#devices.entries();
  }

  /**
   * A message from the device at `atMs` (its payload time, else its receive
   * time), received at `receivedAtMs`; `own`: false for an EMQX client
   * event (the broker's word, not the device's). The hot path.
   */
  seen(device: string, atMs: number, receivedAtMs: number, own = true): void {
    const at = atMs < receivedAtMs ? atMs : receivedAtMs;
    const entry = this.#devices.get(device);
    if (entry === undefined) {
      this.#devices.set(device, { lastSeenMs: at, firstSeenMs: at, ownData: own, online: undefined, sinceMs: at, presenceAtMs: 0, source: 'none' });
      return;
    }
    if (own) entry.ownData = true;
    if (entry.lastSeenMs === undefined || at > entry.lastSeenMs) entry.lastSeenMs = at;
    if (at < entry.firstSeenMs) entry.firstSeenMs = at;
  }

  /**
   * A presence event (already judged by the presence tracker) at `atMs`,
   * received at `receivedAtMs`. It is not a message time by itself: the
   * caller says `seen()` when it is one (a retained status without a time of
   * its own is not).
   */
  presence(device: string, online: boolean, atMs: number, source: PresenceSource, receivedAtMs: number): void {
    const at = atMs < receivedAtMs ? atMs : receivedAtMs;
    let entry = this.#devices.get(device);
    if (entry === undefined) {
      entry = { lastSeenMs: undefined, firstSeenMs: at, ownData: false, online: undefined, sinceMs: at, presenceAtMs: 0, source: 'none' };
      this.#devices.set(device, entry);
    } else if (at < entry.firstSeenMs) {
      entry.firstSeenMs = at;
    }
    if (source !== 'emqx') entry.ownData = true;
    if (entry.online !== undefined && at < entry.presenceAtMs) {
      if (entry.firstState === true && online === entry.online && at < entry.sinceMs) entry.sinceMs = at;
      return;
    }
    if (entry.online !== online) {
      entry.firstState = entry.online === undefined;
      entry.online = online;
      entry.sinceMs = at;
    }
    entry.presenceAtMs = at;
    entry.source = source;
  }

  /** Puts back an entry as it was saved (device directory); replaces what is known. */
  restore(device: string, entry: LivenessEntry): void {
    this.#devices.set(device, { ...entry });
  }

  /**
   * Removes every device whose newest message (or, with none that has a
   * time, its first look) is `afterMs` or more before `nowMs`, and returns
   * them. The only way a device leaves the book.
   */
  forget(nowMs: number, afterMs: number): Forgotten[] {
    const forgotten: Forgotten[] = [];
    for (const [device, entry] of this.#devices) {
      const silentMs = nowMs - (entry.lastSeenMs ?? entry.firstSeenMs);
      if (silentMs >= afterMs) {
        this.#devices.delete(device);
        forgotten.push({ device, entry, silentMs });
      }
    }
    return forgotten;
  }
}
