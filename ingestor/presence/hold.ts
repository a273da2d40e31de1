/**
 * Holds presence events of devices whose location is not known yet, so that
 * a device's first EMQX `connected` does not say `location=unknown` only
 * because it arrived a moment before the device's first telemetry (or birth
 * message) named the location.
 *
 * - An event is held at most `holdMs`; then `onExpire` gets it with whatever
 *   is known by then (maybe still nothing: `unknown`).
 * - `take(device)` hands back a device's held events, oldest first, as soon as
 *   its location is learned.
 * - At most `maxEvents` are held (bounded memory); `hold()` says false when
 *   full, and the caller writes the event at once.
 * - `takeAll()` empties it, for shutdown.
 *
 * Only for events that need no acknowledgement (EMQX publishes its presence
 * events with QoS 0): a held event is in memory only, and a crash loses it.
 */
import type { PresenceEvent } from './event.ts';

export interface PresenceHoldOptions {
  /** How long an event waits for its device's location. */
  readonly holdMs: number;
  /** Most events held at once. */
  readonly maxEvents: number;
  /** Receives events whose time is up, oldest first. */
  readonly onExpire: (events: PresenceEvent[]) => void;
}

interface Held {
  readonly events: PresenceEvent[];
  /** When the device's first held event is due. */
  readonly dueAtMs: number;
}

export class PresenceHold {
  readonly #options: PresenceHoldOptions;
  /** Insertion order is due order: every device's deadline is its first event + holdMs. */
  readonly #devices = new Map<string, Held>();
  #count = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: PresenceHoldOptions) {
    if (!Number.isSafeInteger(options.holdMs) || options.holdMs <= 0) throw new RangeError(`holdMs must be a positive whole number, got ${options.holdMs}`);
    if (!Number.isSafeInteger(options.maxEvents) || options.maxEvents <= 0) throw new RangeError(`maxEvents must be a positive whole number, got ${options.maxEvents}`);
    this.#options = options;
  }

  /** Events held now. */
  get size(): number {
    return this.#count;
  }

  has(device: string): boolean {
    return this.#devices.has(device);
  }

  /** Holds the event; false when full (then the caller must not wait for a location). */
  hold(event: PresenceEvent): boolean {
    if (this.#count >= this.#options.maxEvents) return false;
    const held = this.#devices.get(event.device);
    if (held === undefined) this.#devices.set(event.device, { events: [event], dueAtMs: Date.now() + this.#options.holdMs });
    else held.events.push(event);
    this.#count += 1;
    this.#arm();
    return true;
  }

  /** A device's held events (none when nothing is held), removed. */
  take(device: string): PresenceEvent[] {
    const held = this.#devices.get(device);
    if (held === undefined) return [];
    this.#devices.delete(device);
    this.#count -= held.events.length;
    if (this.#devices.size === 0) this.#disarm();
    return held.events;
  }

  /** Everything held, removed; the timer stops. */
  takeAll(): PresenceEvent[] {
    const events = [...this.#devices.values()].flatMap((held) => held.events);
    this.#devices.clear();
    this.#count = 0;
    this.#disarm();
    return events;
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const first = this.#devices.values().next();
    if (first.done === true) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, first.value.dueAtMs - Date.now()));
    // Holding must not keep a process alive; shutdown takes what is left.
    this.#timer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    const due: PresenceEvent[] = [];
    for (const [device, held] of this.#devices) {
      if (held.dueAtMs > now) break;
      this.#devices.delete(device);
      this.#count -= held.events.length;
      due.push(...held.events);
    }
    this.#arm();
    if (due.length > 0) this.#options.onExpire(due);
  }
}
