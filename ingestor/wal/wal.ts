/**
 * The write-ahead log: an ordered series of segment files in one directory.
 * This façade ties the parts together; each has its own file:
 *
 *   record.ts      the record format (length, CRC-32, lines)
 *   scanner.ts     the one chunked loop that reads records back
 *   segments.ts    segment files: naming, creation and deletion (directory fsynced)
 *   appender.ts    all-or-nothing appends to the active segment
 *   capacity.ts    the gate: waits while the log is full or the disk refuses
 *   reader.ts      the read cursor and the confirmed position
 *   checkpoint.ts  the confirmed position, persisted
 *   repair.ts      cutting a torn tail at open
 *
 * Contract:
 * - `append()` writes the record with write(2) before it returns undefined:
 *   once it has, a SIGKILL of the process cannot lose the record (the kernel
 *   holds it). A power cut can lose what was written since the last
 *   fdatasync, at most `syncIntervalMs` of records (0 syncs every append).
 * - When the log holds `maxBytes`, or the disk refuses the append (ENOSPC,
 *   EIO), `append()` returns a promise that settles only once the record is
 *   written: the caller must not acknowledge until then. A refused append
 *   leaves no partial bytes behind and is retried every `appendRetryMs` and
 *   whenever a segment is deleted. It never throws for a disk error.
 * - `readBatch()` hands out records in append order, never spanning two
 *   segments; `confirm()` says a batch is done with (stored, or rejected for
 *   good). A segment file is deleted only when it is sealed, fully read and
 *   every batch read from it is confirmed.
 * - The confirmed position is persisted at most every `checkpointIntervalMs`
 *   and at close(): the next start reads on from there. After a crash, up to
 *   one interval of confirmed records is sent again (idempotent: points carry
 *   their final timestamps).
 * - At open, a torn record at the end of the newest segment (a crash during
 *   write(2)) is cut off with a warning; nothing before it is touched.
 */
import type { Logger } from 'pino';
import { Appender, type AppendError } from './appender.ts';
import { CapacityGate, type AppendState } from './capacity.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { errorCode, fileSize, nodeFs, syncDirectory, type WalFs } from './files.ts';
import { LogReader, type LogPosition, type WalBatch } from './reader.ts';
import { encodeRecord } from './record.ts';
import { repairTail } from './repair.ts';
import { listSegmentIds, segmentPath, SegmentList, type Segment } from './segments.ts';

export type { AppendState } from './capacity.ts';
export type { LogPosition, WalBatch } from './reader.ts';

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
  /** The log's cap; appends wait beyond it. */
  readonly maxBytes: number;
  /** @default defaultSegmentBytes(maxBytes) */
  readonly segmentBytes?: number;
  /** fdatasync period; 0 syncs on every append. */
  readonly syncIntervalMs: number;
  /** The confirmed position is persisted at most this often. @default 1000 */
  readonly checkpointIntervalMs?: number;
  /** Delay between attempts while the disk refuses appends. @default 1000 */
  readonly appendRetryMs?: number;
  /** File operations (tests inject faults). @default node:fs */
  readonly fs?: WalFs;
}

/** maxBytes / 8, between 64 KiB and 64 MiB. */
export function defaultSegmentBytes(maxBytes: number): number {
  return Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.floor(maxBytes / 8)));
}

/** A full disk at start-up is a state to wait out, not a reason to refuse to start. */
const WAIT_OUT_CODES = new Set(['ENOSPC', 'EDQUOT']);

interface OpenedLog {
  readonly segments: Segment[];
  readonly start: LogPosition;
  readonly nextSegmentId: number;
}

export class WriteAheadLog {
  readonly #dir: string;
  readonly #fs: WalFs;
  readonly #log: Logger;
  readonly #segmentBytes: number;
  readonly #segments: SegmentList;
  readonly #appender: Appender;
  readonly #gate: CapacityGate;
  readonly #reader: LogReader;
  readonly #timers: NodeJS.Timeout[] = [];
  #appendWaiter: (() => void) | undefined;
  #pumpScheduled = false;
  #closed = false;
  #syncFailing = false;
  #checkpointFailing = false;
  #checkpointed: LogPosition;

  /** Bytes appended or replayed and not yet handed out by readBatch(). */
  #unreadBytes: number;
  /** Lines appended in this run and not yet handed out (replayed ones are not counted). */
  #unreadLines = 0;
  /** When the oldest unread record was appended; 0 for a replay backlog. */
  #oldestUnreadAtMs: number | undefined;
  readonly #replayBytes: number;
  #replayedBytes = 0;
  readonly #firstRunSegmentId: number;

  private constructor(options: WalOptions, fs: WalFs, log: Logger, opened: OpenedLog) {
    this.#dir = options.dir;
    this.#fs = fs;
    this.#log = log;
    this.#segmentBytes = options.segmentBytes ?? defaultSegmentBytes(options.maxBytes);
    this.#segments = new SegmentList(fs, options.dir, opened.segments);
    this.#firstRunSegmentId = opened.nextSegmentId;
    this.#checkpointed = opened.start;
    const first = opened.segments[0];
    this.#replayBytes = this.#segments.totalBytes - (first?.id === opened.start.segmentId ? opened.start.offset : 0);
    this.#unreadBytes = this.#replayBytes;
    if (this.#replayBytes > 0) this.#oldestUnreadAtMs = 0;

    this.#reader = new LogReader(fs, this.#segments, log, {
      maxRecordBytes: this.#segmentBytes,
      start: opened.start,
      events: {
        consumed: (segment, bytes, lines) => this.#consumed(segment, bytes, lines),
        settled: (segment) => this.#maybeDelete(segment),
      },
    });
    this.#appender = new Appender(fs, this.#segments, {
      segmentBytes: this.#segmentBytes,
      syncEachAppend: options.syncIntervalMs === 0,
      firstSegmentId: opened.nextSegmentId,
    });
    this.#gate = new CapacityGate({
      maxBytes: options.maxBytes,
      retryMs: options.appendRetryMs ?? 1000,
      usedBytes: () => this.#segments.totalBytes,
      write: (record, lineCount) => this.#write(record, lineCount),
      stateChanged: (state, previous) => this.#reportState(state, previous, options.maxBytes),
    });
    if (options.syncIntervalMs > 0) this.#every(options.syncIntervalMs, () => this.sync());
    this.#every(options.checkpointIntervalMs ?? 1000, () => this.#persistConfirmed());
  }

  /** Opens (creating) the log directory, drops what the checkpoint says is confirmed, repairs a torn tail. */
  static open(options: WalOptions, log: Logger): WriteAheadLog {
    const fs = options.fs ?? nodeFs;
    const segmentBytes = options.segmentBytes ?? defaultSegmentBytes(options.maxBytes);
    step('create the directory', () => fs.mkdir(options.dir));
    const opened = step('read the directory', () => openExisting(fs, options.dir, segmentBytes, log));
    const wal = new WriteAheadLog(options, fs, log, opened);
    try {
      wal.#appender.prepare();
    } catch (error) {
      const code = (error as AppendError).code;
      if (!WAIT_OUT_CODES.has(code)) {
        wal.close();
        throw new WalError(`cannot write a segment file (${code})`);
      }
      log.warn({ error: code }, 'write-ahead log directory is full at start-up; messages wait until it has room');
    }
    if (wal.#replayBytes > 0) {
      log.info({ segments: wal.segmentCount, bytes: wal.#replayBytes }, 'write-ahead log holds unconfirmed points from a previous run; replaying them first');
    }
    return wal;
  }

  get totalBytes(): number {
    return this.#segments.totalBytes;
  }

  get segmentCount(): number {
    return this.#segments.length;
  }

  /** Whether appends go through, and if not, why and since when. */
  get appendState(): AppendState {
    return this.#gate.state;
  }

  /** True while appends wait because the log holds maxBytes. */
  get full(): boolean {
    return this.#gate.state.kind === 'full';
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

  /** Everything before this position is confirmed. */
  get confirmedPosition(): LogPosition {
    return this.#reader.confirmedPosition;
  }

  /** Bytes after the confirmed position: what the next start would send again if the process stopped now. */
  get unconfirmedBytes(): number {
    const position = this.#reader.confirmedPosition;
    let bytes = 0;
    for (let i = 0; i < this.#segments.length; i += 1) {
      const segment = this.#segments.at(i) as Segment;
      if (segment.id > position.segmentId) bytes += segment.bytes;
      else if (segment.id === position.segmentId) bytes += Math.max(0, segment.bytes - position.offset);
    }
    return bytes;
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
   * Appends one message's lines. Returns undefined when the record is written
   * (write(2) returned), or a promise that settles once it is, when the log is
   * full or the disk refused it. Throws only RecordTooLargeError.
   */
  append(lines: readonly string[]): Promise<void> | undefined {
    const record = encodeRecord(lines);
    if (record.length > this.#segmentBytes) throw new RecordTooLargeError(record.length, this.#segmentBytes);
    return this.#gate.offer(record, lines.length);
  }

  /** Takes no more records: waiting appends are rejected (their messages stay unacknowledged). */
  stopTaking(reason: string): void {
    this.#gate.close(reason);
  }

  #write(record: Buffer, lineCount: number): void {
    try {
      this.#appender.append(record);
    } catch (error) {
      // Seal what the segment holds, so that it can be deleted (freeing the
      // disk) once confirmed, instead of waiting to fill up.
      try {
        if (this.#appender.seal() !== undefined) this.#reader.advance();
      } catch (sealError) {
        this.#log.debug({ error: errorCode(sealError) }, 'sealing the segment after a failed append failed');
      }
      throw error;
    }
    this.#unreadBytes += record.length;
    this.#unreadLines += lineCount;
    this.#oldestUnreadAtMs ??= Date.now();
    const waiter = this.#appendWaiter;
    this.#appendWaiter = undefined;
    waiter?.();
  }

  #reportState(state: AppendState, previous: AppendState, maxBytes: number): void {
    const context = { bytes: this.#segments.totalBytes, maxBytes, dir: this.#dir };
    switch (state.kind) {
      case 'full':
        this.#log.warn(context, 'write-ahead log is full (WAL_MAX_BYTES): no longer acknowledging messages until InfluxDB catches up');
        return;
      case 'failing':
        this.#log.error({ ...context, error: state.code }, `write-ahead log cannot append (${state.code}): no longer acknowledging messages; retrying until the disk takes them`);
        return;
      case 'open':
        this.#log.info({ ...context, wasFor: previous.kind === 'open' ? undefined : `${Date.now() - previous.sinceMs} ms` }, 'write-ahead log takes messages again: acknowledging them');
        return;
    }
  }

  /** fdatasync the active segment if anything was written since the last sync. */
  sync(): void {
    try {
      this.#appender.sync();
      if (this.#syncFailing) this.#log.info('write-ahead log fdatasync works again');
      this.#syncFailing = false;
    } catch (error) {
      if (!this.#syncFailing) this.#log.error({ error: errorCode(error), dir: this.#dir }, 'write-ahead log fdatasync failed: a power cut could lose acknowledged records');
      this.#syncFailing = true;
    }
  }

  /** The next records, up to about `maxLines` lines, from the read cursor; undefined when nothing is unread. */
  readBatch(maxLines: number): WalBatch | undefined {
    return this.#reader.readBatch(maxLines);
  }

  #consumed(segment: Segment, bytes: number, lines: number): void {
    this.#unreadBytes -= bytes;
    if (segment.id < this.#firstRunSegmentId) this.#replayedBytes += bytes;
    else this.#unreadLines -= lines;
    if (this.#unreadBytes === 0) this.#oldestUnreadAtMs = undefined;
  }

  /** The batch is stored, or rejected for good: its segment may go. */
  confirm(batch: WalBatch): void {
    if (this.#closed) return;
    this.#reader.confirm(batch);
  }

  #maybeDelete(segment: Segment): void {
    if (!segment.sealed || !segment.fullyRead || segment.outstanding > 0) return;
    try {
      this.#segments.delete(segment);
    } catch (error) {
      this.#log.error({ segment: segment.path, error: errorCode(error) }, 'cannot delete a confirmed write-ahead log segment');
      return;
    }
    this.#schedulePump();
  }

  /** Freed space lets waiting appends in; not from inside an append, hence the next turn. */
  #schedulePump(): void {
    if (this.#pumpScheduled || this.#gate.waiting === 0) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#gate.pump();
    });
  }

  #persistConfirmed(): void {
    const position = this.#reader.confirmedPosition;
    if (position.segmentId === this.#checkpointed.segmentId && position.offset === this.#checkpointed.offset) return;
    try {
      writeCheckpoint(this.#fs, this.#dir, position);
      this.#checkpointed = position;
      if (this.#checkpointFailing) this.#log.info('write-ahead log records its confirmed position again');
      this.#checkpointFailing = false;
    } catch (error) {
      if (!this.#checkpointFailing) {
        this.#log.warn({ error: errorCode(error), dir: this.#dir }, 'write-ahead log cannot record its confirmed position; a restart would resend points InfluxDB already has');
      }
      this.#checkpointFailing = true;
    }
  }

  #every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.#timers.push(timer);
  }

  /** Syncs, records the confirmed position and closes the files. Unconfirmed records stay for the next start. */
  close(): void {
    if (this.#closed) return;
    for (const timer of this.#timers) clearInterval(timer);
    this.#gate.close('the write-ahead log is closed');
    try {
      this.#appender.close();
    } catch (error) {
      this.#log.error({ error: errorCode(error), dir: this.#dir }, 'write-ahead log fdatasync failed at close');
    }
    this.#persistConfirmed();
    this.#reader.close();
    this.#closed = true;
  }
}

function step<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof WalError) throw error;
    throw new WalError(`cannot ${what} (${errorCode(error)})`);
  }
}

/** The previous run's segments, less what its checkpoint says is confirmed, with a torn tail cut. */
function openExisting(fs: WalFs, dir: string, segmentBytes: number, log: Logger): OpenedLog {
  const checkpoint = readCheckpoint(fs, dir);
  if (!checkpoint.ok) log.warn({ error: checkpoint.reason }, 'write-ahead log checkpoint unreadable; replaying everything the log holds');
  const confirmed = checkpoint.ok ? checkpoint.position : undefined;
  const segments: Segment[] = listSegmentIds(fs, dir).map((id) => {
    const path = segmentPath(dir, id);
    return { id, path, bytes: fileSize(fs, path), sealed: true, fullyRead: false, outstanding: 0 };
  });
  const newest = segments.at(-1);
  if (newest !== undefined) {
    const from = confirmed?.segmentId === newest.id ? confirmed.offset : 0;
    repairTail(fs, newest, from, segmentBytes, log);
  }
  const isConfirmed = (segment: Segment): boolean =>
    confirmed !== undefined && (segment.id < confirmed.segmentId || (segment.id === confirmed.segmentId && segment.bytes <= confirmed.offset));
  const gone = segments.filter((segment) => segment.bytes === 0 || isConfirmed(segment));
  for (const segment of gone) fs.unlink(segment.path);
  if (gone.length > 0) syncDirectory(fs, dir);
  const kept = segments.filter((segment) => !gone.includes(segment));
  const first = kept[0];
  const start: LogPosition = first === undefined
    ? { segmentId: Math.max(segments.at(-1)?.id ?? 0, confirmed?.segmentId ?? 0) + 1, offset: 0 }
    : { segmentId: first.id, offset: confirmed?.segmentId === first.id ? confirmed.offset : 0 };
  const nextSegmentId = Math.max(segments.at(-1)?.id ?? 0, confirmed?.segmentId ?? 0) + 1;
  return { segments: kept, start, nextSegmentId };
}
