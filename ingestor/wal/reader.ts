/**
 * The log's read cursor: hands records out in append order, in batches that
 * never span two segments, and keeps the batches handed out until they are
 * confirmed. From those it knows the confirmed position: every record before
 * it is stored (or refused for good), which is what the checkpoint records.
 */
import type { Logger } from 'pino';
import type { WalFs } from './files.ts';
import { scanRecords } from './scanner.ts';
import type { Segment, SegmentList } from './segments.ts';

export interface WalBatch {
  readonly segmentId: number;
  readonly lines: string[];
  readonly bytes: number;
  /** Offset of its first record in the segment. */
  readonly start: number;
}

/** A place in the log: segments before `segmentId` and the bytes before `offset` in it. */
export interface LogPosition {
  readonly segmentId: number;
  readonly offset: number;
}

export interface ReaderEvents {
  /** Bytes the cursor moved past (read, or skipped as damaged) and the lines read. */
  consumed(segment: Segment, bytes: number, lines: number): void;
  /** The segment is fully read, or one of its batches was confirmed: it may be deletable. */
  settled(segment: Segment): void;
}

export class LogReader {
  readonly #fs: WalFs;
  readonly #segments: SegmentList;
  readonly #log: Logger;
  readonly #maxRecordBytes: number;
  readonly #events: ReaderEvents;
  /** The segment being read; undefined once the cursor has passed every segment so far. */
  #current: Segment | undefined;
  #offset: number;
  /** The last segment read to its end (the cursor's place when #current is undefined). */
  #lastFinishedId: number;
  #fd: { readonly segmentId: number; readonly fd: number } | undefined;
  /** Batches handed out and not yet confirmed, in read order. */
  readonly #inFlight: { readonly batch: WalBatch; confirmed: boolean }[] = [];

  constructor(fs: WalFs, segments: SegmentList, log: Logger, options: { maxRecordBytes: number; start: LogPosition; events: ReaderEvents }) {
    this.#fs = fs;
    this.#segments = segments;
    this.#log = log;
    this.#maxRecordBytes = options.maxRecordBytes;
    this.#events = options.events;
    this.#current = segments.at(0);
    this.#offset = this.#current?.id === options.start.segmentId ? options.start.offset : 0;
    this.#lastFinishedId = options.start.segmentId - 1;
  }

  /** Everything before this is confirmed. */
  get confirmedPosition(): LogPosition {
    const oldest = this.#inFlight[0];
    if (oldest !== undefined) return { segmentId: oldest.batch.segmentId, offset: oldest.batch.start };
    if (this.#current !== undefined) return { segmentId: this.#current.id, offset: this.#offset };
    return { segmentId: this.#lastFinishedId + 1, offset: 0 };
  }

  /** The next records, up to about `maxLines` lines; undefined when nothing is unread. */
  readBatch(maxLines: number): WalBatch | undefined {
    for (;;) {
      const segment = this.#segment();
      if (segment === undefined) return undefined;
      if (this.#offset >= segment.bytes) {
        if (!segment.sealed) return undefined; // caught up with the writer
        this.#finish(segment);
        continue;
      }
      const start = this.#offset;
      const scan = scanRecords(this.#fs, this.#fdFor(segment), {
        from: start, to: segment.bytes, maxLines, maxRecordBytes: this.#maxRecordBytes, keepLines: true,
      });
      this.#offset = scan.end;
      if (scan.stop !== undefined) {
        // Damage inside a segment (not a torn tail, which open() cuts): the rest of it cannot be read. Said loudly.
        this.#log.error(
          { segment: segment.path, offset: scan.end, lostBytes: segment.bytes - scan.end, error: scan.stop.reason },
          'write-ahead log segment is damaged; skipping the rest of it',
        );
        this.#offset = segment.bytes;
      }
      this.#events.consumed(segment, this.#offset - start, scan.lines.length);
      if (scan.lines.length === 0) continue;
      const batch: WalBatch = { segmentId: segment.id, lines: scan.lines, bytes: scan.end - start, start };
      segment.outstanding += 1;
      this.#inFlight.push({ batch, confirmed: false });
      return batch;
    }
  }

  /** The batch is stored, or rejected for good. */
  confirm(batch: WalBatch): void {
    const entry = this.#inFlight.find((e) => e.batch === batch && !e.confirmed);
    if (entry === undefined) throw new Error(`confirm: this batch of segment ${batch.segmentId} is not outstanding`);
    entry.confirmed = true;
    while (this.#inFlight[0]?.confirmed === true) this.#inFlight.shift();
    const segment = this.#segments.byId(batch.segmentId);
    if (segment === undefined) return;
    segment.outstanding -= 1;
    this.#events.settled(segment);
    this.advance();
  }

  /** Moves past segments that were sealed after the cursor reached their end. */
  advance(): void {
    for (let segment = this.#segment(); segment !== undefined && segment.sealed && this.#offset >= segment.bytes; segment = this.#segment()) {
      this.#finish(segment);
    }
  }

  close(): void {
    if (this.#fd !== undefined) this.#fs.close(this.#fd.fd);
    this.#fd = undefined;
  }

  #segment(): Segment | undefined {
    if (this.#current === undefined) {
      // Waiting at the end of the log: the next segment to exist is the next to read.
      for (let i = 0; i < this.#segments.length; i += 1) {
        const segment = this.#segments.at(i) as Segment;
        if (segment.id > this.#lastFinishedId) {
          this.#current = segment;
          this.#offset = 0;
          break;
        }
      }
    }
    return this.#current;
  }

  #finish(segment: Segment): void {
    segment.fullyRead = true;
    if (this.#fd?.segmentId === segment.id) this.close();
    this.#lastFinishedId = segment.id;
    this.#current = undefined;
    this.#offset = 0;
    this.#events.settled(segment);
  }

  #fdFor(segment: Segment): number {
    if (this.#fd?.segmentId !== segment.id) {
      this.close();
      this.#fd = { segmentId: segment.id, fd: this.#fs.open(segment.path, 'r') };
    }
    return this.#fd.fd;
  }
}
