/** The longest a notification may wait behind others before the queue is merged into digests. */
export const PATIENCE_MS = 10_000;

/**
 * A per-bot sliding-window rate limiter: "at most `limit` sends in any
 * `windowMs`", for each window at once (Feishu: 5 per second AND 100 per
 * minute). It does not sleep; the worker asks how long to wait and how many
 * sends are left, and merges queued notifications when they outnumber what is left.
 *
 * The platforms count a message when it ARRIVES, which is some time after we
 * send it (a slow network, a slow TLS handshake, a platform slow to read).
 * So a send occupies its slot from the moment it leaves (record) until its
 * reply is back (settle): the platform received it at some time in between,
 * and the next send that this slot gates leaves at least a full window after
 * the reply, hence arrives at least a full window after the platform counted
 * this one. Counting the send only when it left let a send that arrived late
 * and the next ones, sent on time, land in the same platform window (Feishu:
 * more than 5 within one second).
 */
export interface RateWindow {
  readonly limit: number;
  readonly windowMs: number;
}

/** Documented per-bot limits. */
export const PLATFORM_LIMITS = {
  dingtalk: [{ limit: 20, windowMs: 60_000 }],
  feishu: [
    { limit: 5, windowMs: 1_000 },
    { limit: 100, windowMs: 60_000 },
  ],
} as const satisfies Record<string, readonly RateWindow[]>;

/** One send's place in the windows: when it left, then when its reply came back. */
export interface SendSlot {
  time: number;
}

export class RateLimiter {
  readonly #windows: readonly RateWindow[];
  /** Send times (the reply's time once settled), oldest first, kept as long as the longest window. */
  readonly #sent: SendSlot[] = [];

  constructor(windows: readonly RateWindow[]) {
    if (windows.length === 0) throw new Error('RateLimiter: windows must not be empty');
    for (const window of windows) {
      if (!(window.limit >= 1) || !(window.windowMs > 0)) throw new Error(`RateLimiter: bad window ${JSON.stringify(window)}`);
    }
    this.#windows = windows;
  }

  #prune(now: number): void {
    const longest = Math.max(...this.#windows.map((window) => window.windowMs));
    while (this.#sent.length > 0 && (this.#sent[0]?.time ?? 0) <= now - longest) this.#sent.shift();
  }

  #inWindow(now: number, windowMs: number): number[] {
    return this.#sent.map((slot) => slot.time).filter((time) => time > now - windowMs);
  }

  /** Milliseconds until one more send is allowed (0: now). */
  waitMs(now: number): number {
    this.#prune(now);
    let wait = 0;
    for (const window of this.#windows) {
      const recent = this.#inWindow(now, window.windowMs);
      if (recent.length >= window.limit) {
        // The send that frees a slot is the limit-th most recent one.
        const freeing = recent[recent.length - window.limit] ?? now;
        wait = Math.max(wait, freeing + window.windowMs - now);
      }
    }
    return wait;
  }

  /**
   * Sends still allowed in the longest window (the one that would hold
   * notifications back for long). Shorter windows (Feishu's 5 per second)
   * only delay a send a little, through waitMs().
   */
  remaining(now: number): number {
    this.#prune(now);
    const longest = this.#windows.reduce((a, b) => (b.windowMs > a.windowMs ? b : a));
    return Math.max(0, longest.limit - this.#inWindow(now, longest.windowMs).length);
  }

  /**
   * Whether `count` queued notifications can each go as their own message:
   * all of them within PATIENCE_MS, and without spending the last quarter of
   * the longest window's budget (kept for what comes next). Otherwise the
   * worker merges them into digests.
   */
  canSendSeparately(count: number, now: number): boolean {
    const longest = this.#windows.reduce((a, b) => (b.windowMs > a.windowMs ? b : a));
    const reserve = Math.ceil(longest.limit / 4);
    if (count > this.remaining(now) - reserve) return false;
    // Simulate the sends on a copy: when would the last of them go?
    const copy = new RateLimiter(this.#windows);
    copy.#sent.push(...this.#sent.map((slot) => ({ time: slot.time })));
    let time = now;
    for (let index = 0; index < count; index += 1) {
      time += copy.waitMs(time);
      if (time - now > PATIENCE_MS) return false;
      copy.record(time);
    }
    return true;
  }

  /** Call once per HTTP request to the platform, retries included, when it leaves; then settle() it. */
  record(now: number): SendSlot {
    const slot = { time: now };
    this.#sent.push(slot);
    return slot;
  }

  /**
   * The request's reply (or its failure) came back at `now`: from here on it
   * counts from then, the latest the platform can have received it.
   */
  settle(slot: SendSlot, now: number): void {
    if (now <= slot.time) return;
    slot.time = now;
    this.#sent.sort((a, b) => a.time - b.time);
  }
}
