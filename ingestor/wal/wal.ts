/**
 * The write-ahead log: an ordered series of segment files in WAL_DIR.
 *
 * Contract:
 * - `append()` writes the record to the active segment with a synchronous
 *   write(2) before it returns: once it has, a SIGKILL of the process cannot
 *   lose the record (the kernel holds it). A power cut can lose what was
 *   written since the last fdatasync, at most `syncIntervalMs` of records
 *   (0 syncs every append).
 * - When the log holds `maxBytes`, `append()` returns a promise that settles
 *   only when space is freed: the caller must not acknowledge until then.
 * - `readBatch()` hands out records in append order, never spanning two
 *   segments; `confirm()` says a batch is done with (stored, or rejected for
 *   good). A segment file is deleted only when it is sealed, fully read and
 *   every batch read from it is confirmed. What is not confirmed when the
 *   process stops is read again at the next start (replays are idempotent:
 *   points carry their final timestamps).
 * - At open, a torn record at the end of the newest segment (a crash during
 *   write(2)) is cut off with a warning; nothing before it is touched.
 */
import { closeSync, fdatasyncSync, ftruncateSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { decodeRecords, encodeRecord, HEADER_BYTES } from './record.ts';

export class WalError extends Error {
  override readonly name = 'WalError';
}

/** A single message's points do not fit in a segment: refuse the message, not the log. */
export class RecordTooLargeError extends WalError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`its points take ${bytes} bytes in the log, more than a segment holds (${limit})`);
  }
}

export interface WalOptions {
  readonly dir: string;
  /** @default 1 GiB */
  readonly maxBytes: number;
  /** @default maxBytes / 8, between 64 KiB and 64 MiB */
  readonly segmentBytes?: number;
  /** fdatasync period; 0 syncs on every append. @default 1000 */
  readonly syncIntervalMs: number;
}

export interface WalBatch {
  readonly segmentId: number;
  readonly lines: string[];
  readonly bytes: number;
}

interface Segment {
  readonly id: number;
  readonly path: string;
  bytes: number;
  sealed: boolean;
  fullyRead: boolean;
  outstanding: number;
}

const SEGMENT_NAME = /^(\d{20})\.wal$/;
const READ_CHUNK_BYTES = 1024 * 1024;

const segmentPath = (dir: string, id: number): string => join(dir, `${String(id).padStart(20, '0')}.wal`);

export function defaultSegmentBytes(maxBytes: number): number {
  return Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.floor(maxBytes / 8)));
}

export class WriteAheadLog {
  readonly #options: Required<WalOptions>;
  readonly #log: Logger;
  readonly #segments: Segment[] = [];
  #activeFd: number;
  #dirty = false;
  #totalBytes = 0;
  #syncTimer: NodeJS.Timeout | undefined;
  readonly #spaceWaiters: { bytes: number; resolve: () => void }[] = [];
  #appendWaiter: (() => void) | undefined;

  // Read cursor.
  #readIndex = 0;
  #readOffset = 0;
  #readFd: { segmentId: number; fd: number } | undefined;

  /** Bytes appended or replayed and not yet handed out by readBatch(). */
  #unreadBytes = 0;
  /** Lines appended in this run and not yet handed out (replayed ones are not counted). */
  #unreadLines = 0;
  /** When the oldest unread record was appended; 0 for a replay backlog. */
  #oldestUnreadAtMs: number | undefined;
  readonly #replayBytes: number;
  #replayedBytes = 0;
  readonly #firstRunSegmentId: number;

  private constructor(options: Required<WalOptions>, log: Logger, existing: Segment[]) {
    this.#options = options;
    this.#log = log;
    this.#segments.push(...existing);
    for (const segment of existing) this.#totalBytes += segment.bytes;
    this.#replayBytes = this.#totalBytes;
    this.#unreadBytes = this.#totalBytes;
    if (this.#replayBytes > 0) this.#oldestUnreadAtMs = 0;
    const id = (existing.at(-1)?.id ?? 0) + 1;
    this.#firstRunSegmentId = id;
    this.#activeFd = this.#openSegment(id);
    if (options.syncIntervalMs > 0) {
      this.#syncTimer = setInterval(() => this.sync(), options.syncIntervalMs);
      this.#syncTimer.unref();
    }
  }

  /** Opens (creating) the log directory, repairs a torn tail, starts a new segment. */
  static open(options: WalOptions, log: Logger): WriteAheadLog {
    const segmentBytes = options.segmentBytes ?? defaultSegmentBytes(options.maxBytes);
    const resolved: Required<WalOptions> = { ...options, segmentBytes };
    try {
      mkdirSync(options.dir, { recursive: true });
    } catch (error) {
      throw new WalError(`WAL_DIR=${JSON.stringify(options.dir)}: cannot create the directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    let names: string[];
    try {
      names = readdirSync(options.dir);
    } catch (error) {
      throw new WalError(`WAL_DIR=${JSON.stringify(options.dir)}: cannot read the directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const existing: Segment[] = names
      .map((name) => SEGMENT_NAME.exec(name))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => Number(match[1]))
      .sort((a, b) => a - b)
      .map((id) => ({ id, path: segmentPath(options.dir, id), bytes: 0, sealed: true, fullyRead: false, outstanding: 0 }));
    for (const segment of existing) segment.bytes = fileSize(segment.path);
    const newest = existing.at(-1);
    if (newest !== undefined) repairTail(newest, segmentBytes, log);
    for (const segment of existing.filter((s) => s.bytes === 0)) {
      unlinkSync(segment.path);
      existing.splice(existing.indexOf(segment), 1);
    }
    const wal = new WriteAheadLog(resolved, log, existing);
    if (existing.length > 0) {
      log.info({ segments: existing.length, bytes: wal.#replayBytes }, 'write-ahead log holds unconfirmed points from a previous run; replaying them first');
    }
    return wal;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  get segmentCount(): number {
    return this.#segments.length;
  }

  /** True while appends wait for space. */
  get full(): boolean {
    return this.#spaceWaiters.length > 0;
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

  /** Replay progress: bytes of the previous run's backlog handed out so far, and its size. */
  get replay(): { readonly doneBytes: number; readonly totalBytes: number } {
    return { doneBytes: this.#replayedBytes, totalBytes: this.#replayBytes };
  }

  /** Resolves at the next append (for a reader waiting for data). */
  nextAppend(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.#appendWaiter;
      this.#appendWaiter = () => {
        previous?.();
        resolve();
      };
    });
  }

  /**
   * Appends one message's lines. Returns undefined when the record is on its
   * way to disk (written with write(2)), or a promise that settles once it
   * is, when the log first has to make room.
   */
  append(lines: readonly string[]): Promise<void> | undefined {
    const record = encodeRecord(lines);
    if (record.length > this.#options.segmentBytes) throw new RecordTooLargeError(record.length, this.#options.segmentBytes);
    if (this.#spaceWaiters.length === 0 && this.#totalBytes + record.length <= this.#options.maxBytes) {
      this.#write(record, lines.length);
      return undefined;
    }
    return new Promise((resolve) => {
      if (this.#spaceWaiters.length === 0) {
        this.#log.warn({ bytes: this.#totalBytes, maxBytes: this.#options.maxBytes }, 'write-ahead log is full (WAL_MAX_BYTES): no longer acknowledging messages until InfluxDB catches up');
      }
      this.#spaceWaiters.push({
        bytes: record.length,
        resolve: () => {
          this.#write(record, lines.length);
          resolve();
        },
      });
    });
  }

  #write(record: Buffer, lineCount: number): void {
    const active = this.#segments.at(-1) as Segment;
    if (active.bytes > 0 && active.bytes + record.length > this.#options.segmentBytes) this.#rotate();
    const segment = this.#segments.at(-1) as Segment;
    let written = 0;
    while (written < record.length) written += writeSync(this.#activeFd, record, written, record.length - written);
    segment.bytes += record.length;
    this.#totalBytes += record.length;
    this.#unreadBytes += record.length;
    this.#unreadLines += lineCount;
    this.#oldestUnreadAtMs ??= Date.now();
    this.#dirty = true;
    if (this.#options.syncIntervalMs === 0) this.sync();
    const waiter = this.#appendWaiter;
    this.#appendWaiter = undefined;
    waiter?.();
  }

  #openSegment(id: number): number {
    const path = segmentPath(this.#options.dir, id);
    let fd: number;
    try {
      fd = openSync(path, 'a');
    } catch (error) {
      throw new WalError(`WAL_DIR=${JSON.stringify(this.#options.dir)}: cannot write a segment file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    this.#segments.push({ id, path, bytes: 0, sealed: false, fullyRead: false, outstanding: 0 });
    return fd;
  }

  #rotate(): void {
    const previous = this.#segments.at(-1) as Segment;
    this.sync();
    closeSync(this.#activeFd);
    previous.sealed = true;
    this.#activeFd = this.#openSegment(previous.id + 1);
  }

  /** fdatasync the active segment if anything was written since the last sync. */
  sync(): void {
    if (!this.#dirty) return;
    fdatasyncSync(this.#activeFd);
    this.#dirty = false;
  }

  /**
   * Reads the next records, up to about `maxLines` lines, from the read
   * cursor. Returns undefined when there is nothing unread.
   */
  readBatch(maxLines: number): WalBatch | undefined {
    for (;;) {
      const segment = this.#segments[this.#readIndex];
      if (segment === undefined) return undefined;
      if (this.#readOffset >= segment.bytes) {
        if (!segment.sealed) return undefined; // caught up with the writer
        this.#finishReading(segment);
        continue;
      }
      const batch = this.#readFrom(segment, maxLines);
      if (batch !== undefined) return batch;
    }
  }

  #readFrom(segment: Segment, maxLines: number): WalBatch | undefined {
    const fd = this.#readFdFor(segment);
    const lines: string[] = [];
    const start = this.#readOffset;
    while (lines.length < maxLines && this.#readOffset < segment.bytes) {
      const chunk = readAt(fd, this.#readOffset, Math.min(segment.bytes - this.#readOffset, READ_CHUNK_BYTES));
      const decoded = decodeRecords(chunk, 0, maxLines - lines.length, this.#options.segmentBytes);
      for (const record of decoded.records) for (const line of record) lines.push(line);
      this.#readOffset += decoded.end;
      if (decoded.stop?.kind === 'incomplete' && decoded.records.length === 0) {
        // A record longer than the chunk: read exactly that record.
        const length = chunk.length >= HEADER_BYTES ? chunk.readUInt32LE(0) : 0;
        const whole = readAt(fd, this.#readOffset, HEADER_BYTES + length);
        const single = decodeRecords(whole, 0, 1, this.#options.segmentBytes);
        if (single.records.length === 0) {
          this.#skipDamaged(segment, single.stop?.kind === 'corrupt' ? single.stop.reason : 'truncated record');
          break;
        }
        for (const line of single.records[0] as string[]) lines.push(line);
        this.#readOffset += single.end;
      } else if (decoded.stop?.kind === 'corrupt') {
        this.#skipDamaged(segment, decoded.stop.reason);
        break;
      }
    }
    const bytes = this.#readOffset - start;
    this.#unreadBytes -= bytes;
    if (segment.id < this.#firstRunSegmentId) this.#replayedBytes += bytes;
    else this.#unreadLines -= lines.length;
    if (this.#unreadBytes === 0) this.#oldestUnreadAtMs = undefined;
    if (lines.length === 0) return undefined;
    segment.outstanding += 1;
    return { segmentId: segment.id, lines, bytes };
  }

  /** Damage inside a segment (not a torn tail): the rest of it cannot be read. Said loudly. */
  #skipDamaged(segment: Segment, reason: string): void {
    const lost = segment.bytes - this.#readOffset;
    this.#log.error({ segment: segment.path, offset: this.#readOffset, lostBytes: lost, error: reason }, 'write-ahead log segment is damaged; skipping the rest of it');
    this.#unreadBytes -= lost;
    if (segment.id < this.#firstRunSegmentId) this.#replayedBytes += lost;
    this.#readOffset = segment.bytes;
  }

  #finishReading(segment: Segment): void {
    segment.fullyRead = true;
    if (this.#readFd?.segmentId === segment.id) {
      closeSync(this.#readFd.fd);
      this.#readFd = undefined;
    }
    this.#readIndex += 1;
    this.#readOffset = 0;
    this.#maybeDelete(segment);
  }

  #readFdFor(segment: Segment): number {
    if (this.#readFd?.segmentId !== segment.id) {
      if (this.#readFd !== undefined) closeSync(this.#readFd.fd);
      this.#readFd = { segmentId: segment.id, fd: openSync(segment.path, 'r') };
    }
    return this.#readFd.fd;
  }

  /** The batch is stored, or rejected for good: its segment may go. */
  confirm(batch: WalBatch): void {
    const segment = this.#segments.find((s) => s.id === batch.segmentId);
    if (segment === undefined) throw new Error(`confirm: segment ${batch.segmentId} is not in the log`);
    segment.outstanding -= 1;
    // The reader may sit at the end of a segment that was sealed after it got there.
    const current = this.#segments[this.#readIndex];
    if (current === segment && this.#readOffset >= segment.bytes && segment.sealed) this.#finishReading(segment);
    else this.#maybeDelete(segment);
  }

  #maybeDelete(segment: Segment): void {
    if (!segment.sealed || !segment.fullyRead || segment.outstanding > 0) return;
    unlinkSync(segment.path);
    const index = this.#segments.indexOf(segment);
    this.#segments.splice(index, 1);
    if (index < this.#readIndex) this.#readIndex -= 1;
    this.#totalBytes -= segment.bytes;
    this.#releaseSpace();
  }

  #releaseSpace(): void {
    const wasFull = this.#spaceWaiters.length > 0;
    while (this.#spaceWaiters.length > 0) {
      const next = this.#spaceWaiters[0] as { bytes: number; resolve: () => void };
      if (this.#totalBytes + next.bytes > this.#options.maxBytes) break;
      this.#spaceWaiters.shift();
      next.resolve();
    }
    if (wasFull && this.#spaceWaiters.length === 0) this.#log.info({ bytes: this.#totalBytes }, 'write-ahead log has room again: acknowledging messages');
  }

  /** Syncs and closes the files. Unconfirmed records stay for the next start. */
  close(): void {
    clearInterval(this.#syncTimer);
    this.sync();
    closeSync(this.#activeFd);
    if (this.#readFd !== undefined) closeSync(this.#readFd.fd);
    this.#readFd = undefined;
  }
}

function fileSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const n = readSync(fd, buffer, read, length - read, position + read);
    if (n === 0) break;
    read += n;
  }
  return read === length ? buffer : buffer.subarray(0, read);
}

/** Cuts a torn or damaged tail off the newest segment, keeping every whole record before it. */
function repairTail(segment: Segment, segmentBytes: number, log: Logger): void {
  const fd = openSync(segment.path, 'r+');
  try {
    let offset = 0;
    while (offset < segment.bytes) {
      const chunk = readAt(fd, offset, Math.min(segment.bytes - offset, Math.max(READ_CHUNK_BYTES, segmentBytes + HEADER_BYTES)));
      const decoded = decodeRecords(chunk, 0, Number.MAX_SAFE_INTEGER, segmentBytes);
      offset += decoded.end;
      if (decoded.stop === undefined) continue;
      if (decoded.stop.kind === 'incomplete' && offset + chunk.length - decoded.end < segment.bytes) continue;
      const reason = decoded.stop.kind === 'corrupt' ? decoded.stop.reason : 'record cut short';
      log.warn({ segment: segment.path, offset, cutBytes: segment.bytes - offset, error: reason }, 'write-ahead log ends in a torn write (a crash mid-append); cutting it off, every record before it is kept');
      ftruncateSync(fd, offset);
      segment.bytes = offset;
      break;
    }
  } finally {
    closeSync(fd);
  }
}
