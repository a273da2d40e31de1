/**
 * What the log holds that the reader has not handed out yet: the figures the
 * shipper batches by (lines, age of the oldest) and replay progress.
 */
export class Backlog {
  /** Bytes appended or replayed and not yet handed out. */
  #unreadBytes: number;
  /** Lines appended in this run and not yet handed out (replayed ones are not counted). */
  #unreadLines = 0;
  /** When the oldest unread record was appended; 0 for a replay backlog (send at once). */
  #oldestUnreadAtMs: number | undefined;
  readonly #replayBytes: number;
  #replayedBytes = 0;
  /** Segments from this id on were written by this run. */
  readonly #firstRunSegmentId: number;

  constructor(replayBytes: number, firstRunSegmentId: number) {
    this.#replayBytes = replayBytes;
    this.#unreadBytes = replayBytes;
    this.#firstRunSegmentId = firstRunSegmentId;
    if (replayBytes > 0) this.#oldestUnreadAtMs = 0;
  }

  get unreadBytes(): number {
    return this.#unreadBytes;
  }

  get unreadLines(): number {
    return this.#unreadLines;
  }

  get oldestUnreadAtMs(): number | undefined {
    return this.#oldestUnreadAtMs;
  }

  get replay(): { readonly doneBytes: number; readonly totalBytes: number } {
    return { doneBytes: this.#replayedBytes, totalBytes: this.#replayBytes };
  }

  appended(bytes: number, lines: number, nowMs: number): void {
    this.#unreadBytes += bytes;
    this.#unreadLines += lines;
    this.#oldestUnreadAtMs ??= nowMs;
  }

  /** The reader moved past `bytes` of segment `segmentId` (read, or skipped as damaged), handing out `lines`. */
  consumed(segmentId: number, bytes: number, lines: number): void {
    this.#unreadBytes -= bytes;
    if (segmentId < this.#firstRunSegmentId) this.#replayedBytes += bytes;
    else this.#unreadLines -= lines;
    if (this.#unreadBytes === 0) this.#oldestUnreadAtMs = undefined;
  }
}
