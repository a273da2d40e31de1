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
 *   backlog.ts     what is not yet handed out, and replay progress
 *   checkpoint.ts  the confirmed position, persisted
 *   open.ts        opening a previous run's directory
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
 * - `append(lines, until, true)` may defer the write(2) to `endTurn()`, which
 *   writes the turn's deferred records in one write(2), for a caller that
 *   holds the acknowledgements of the turn's messages until they are written
 *   (the MQTT source corks its socket). If the disk refuses that write,
 *   endTurn() returns a promise instead: the records wait at the head of the
 *   capacity gate, like any refused append, and it resolves once they are
 *   written; it rejects, the records dropped, if their signal (the MQTT
 *   connection) aborts first or the log stops taking records. Appends that
 *   are not deferred first write what is deferred, in order.
 */
import type { Logger } from 'pino';
import { Appender, AppendError } from './appender.ts';
import { Backlog } from './backlog.ts';
import { CapacityGate, type AppendState } from './capacity.ts';
import { CheckpointKeeper } from './checkpoint.ts';
import { errorCode, nodeFs, type WalFs } from './files.ts';
import { openDirectory, WalError, type OpenedLog } from './open.ts';
import { LogReader, type LogPosition, type WalBatch } from './reader.ts';
import { encodeRecord } from './record.ts';
import { SegmentList, type Segment } from './segments.ts';

export type { AppendState } from './capacity.ts';
export { WalError } from './open.ts';
export type { LogPosition, WalBatch } from './reader.ts';

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

export class WriteAheadLog {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #segmentBytes: number;
  readonly #segments: SegmentList;
  readonly #appender: Appender;
  readonly #gate: CapacityGate;
  readonly #reader: LogReader;
  readonly #backlog: Backlog;
  readonly #checkpoint: CheckpointKeeper;
  readonly #timers: NodeJS.Timeout[] = [];
  #appendWaiter: (() => void) | undefined;
  /** Lines of the deferred records (the appender holds their bytes), and the signal they wait with. */
  #deferredLines = 0;
  #deferredUntil: AbortSignal | undefined;
  /** Deferred records of this turn the disk refused, waiting in the gate: endTurn() returns it. */
  #turnWaits: Promise<void> | undefined;
  #pumpScheduled = false;
  #closed = false;
  #syncFailing = false;

  private constructor(options: WalOptions, fs: WalFs, log: Logger, opened: OpenedLog) {
    this.#dir = options.dir;
    this.#log = log;
    this.#segmentBytes = options.segmentBytes ?? defaultSegmentBytes(options.maxBytes);
    this.#segments = new SegmentList(fs, options.dir, opened.segments);
    const startOffset = opened.segments[0]?.id === opened.start.segmentId ? opened.start.offset : 0;
    this.#backlog = new Backlog(this.#segments.totalBytes - startOffset, opened.nextSegmentId);
    this.#checkpoint = new CheckpointKeeper(fs, options.dir, log, opened.start);
    this.#reader = new LogReader(fs, this.#segments, log, {
      maxRecordBytes: this.#segmentBytes,
      start: opened.start,
      events: {
        consumed: (segment, bytes, lines) => this.#backlog.consumed(segment.id, bytes, lines),
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
      usedBytes: () => this.#segments.totalBytes + this.#appender.deferredBytes,
      write: (record, lineCount, defer, until) => this.#write(record, lineCount, defer, until),
      stateChanged: (state, previous) => this.#reportState(state, previous, options.maxBytes),
    });
    if (options.syncIntervalMs > 0) this.#every(options.syncIntervalMs, () => this.sync());
    this.#every(options.checkpointIntervalMs ?? 1000, () => this.#checkpoint.persist(this.#reader.confirmedPosition));
  }

  /**
   * Opens (creating) the log directory, drops what the previous run's
   * checkpoint says is confirmed, repairs a torn tail. Throws WalError when
   * the directory cannot be used (a full disk is waited out instead).
   */
  static open(options: WalOptions, log: Logger): WriteAheadLog {
    const fs = options.fs ?? nodeFs;
    const opened = openDirectory(fs, options.dir, options.segmentBytes ?? defaultSegmentBytes(options.maxBytes), log);
    const wal = new WriteAheadLog(options, fs, log, opened);
    try {
      wal.#appender.prepare();
    } catch (error) {
      const code = (error as AppendError).code;
      if (!WAIT_OUT_CODES.has(code)) {
        wal.close();
        throw new WalError(`cannot write a segment file (${code})`);
      }
      log.warn({ error: code, dir: options.dir }, 'write-ahead log directory is full at start-up; messages wait until it has room');
    }
    const { totalBytes } = wal.replay;
    if (totalBytes > 0) {
      log.info({ segments: wal.segmentCount, bytes: totalBytes }, 'write-ahead log holds unconfirmed points from a previous run; replaying them first');
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
    return this.#backlog.unreadBytes;
  }

  get unreadLines(): number {
    return this.#backlog.unreadLines;
  }

  get oldestUnreadAtMs(): number | undefined {
    return this.#backlog.oldestUnreadAtMs;
  }

  /** Replay progress: bytes of the previous run's backlog handed out so far, and its size. */
  get replay(): { readonly doneBytes: number; readonly totalBytes: number } {
    return this.#backlog.replay;
  }

  /** Everything before this position is confirmed. */
  get confirmedPosition(): LogPosition {
    return this.#reader.confirmedPosition;
  }

  /** Bytes after the confirmed position: what the next start would send again if the process stopped now. */
  get unconfirmedBytes(): number {
    return this.#segments.bytesAfter(this.#reader.confirmedPosition);
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
   * full or the disk refused it. Throws only RecordTooLargeError. A record
   * waiting for room is dropped, unwritten, when `until` is aborted (the
   * promise rejects with its reason): the MQTT connection of its message
   * closed, and the broker redelivers the message.
   */
  append(lines: readonly string[], until?: AbortSignal, deferWrite = false): Promise<void> | undefined {
    const record = encodeRecord(lines);
    if (record.length > this.#segmentBytes) throw new RecordTooLargeError(record.length, this.#segmentBytes);
    return this.#gate.offer(record, lines.length, until, deferWrite);
  }

  /**
   * Writes the records deferred in this turn, in one write(2): undefined once
   * written. A promise when the disk refused them: it resolves once they are
   * written (they wait first in line), and rejects, the records dropped, if
   * their signal aborts first or the log stops taking records. Until it
   * settles, nothing taken in the turn may be acknowledged.
   */
  endTurn(): Promise<void> | undefined {
    this.#writeDeferred();
    const waits = this.#turnWaits;
    this.#turnWaits = undefined;
    return waits;
  }

  /** Writes the deferred records; false when the disk refused them (they then wait in the gate, first). */
  #writeDeferred(): boolean {
    const batch = this.#appender.takeDeferred();
    if (batch === undefined) return true;
    const lines = this.#deferredLines;
    const until = this.#deferredUntil;
    this.#deferredLines = 0;
    this.#deferredUntil = undefined;
    try {
      this.#appender.append(batch);
    } catch (error) {
      this.#sealAfterFailure();
      if (!(error instanceof AppendError)) throw error;
      const waits = this.#gate.waitFirst(batch, lines, error, until);
      // Several refusals in one turn (rare): the turn waits for the last, which is behind the others.
      this.#turnWaits = waits;
      waits.catch(() => {});
      return false;
    }
    this.#appended(batch.length, lines);
    return true;
  }

  /**
   * For shutdown: a record is taken only if it fits at once. Appends waiting
   * for room are rejected (their messages stay unacknowledged, so the broker
   * keeps them), and so is any later append that would have to wait.
   */
  stopTaking(reason: string): void {
    this.#gate.stopWaiting(reason);
  }

  #write(record: Buffer, lineCount: number, defer: boolean, until: AbortSignal | undefined): void {
    // In order: what was deferred goes first, and when the disk refuses it,
    // it waits first in line and this record behind it.
    if ((!defer || !this.#appender.fitsDeferred(record.length)) && !this.#writeDeferred()) {
      throw new AppendError(this.#gate.state.kind === 'failing' ? this.#gate.state.code : 'EIO', new Error('the records before it could not be written'));
    }
    if (defer) {
      this.#appender.defer(record);
      this.#deferredLines += lineCount;
      this.#deferredUntil = until;
      return;
    }
    try {
      this.#appender.append(record);
    } catch (error) {
      this.#sealAfterFailure();
      throw error;
    }
    this.#appended(record.length, lineCount);
  }

  /**
   * Seal what the segment holds, so that it can be deleted (freeing the
   * disk) once confirmed, instead of waiting to fill up.
   */
  #sealAfterFailure(): void {
    try {
      if (this.#appender.seal() !== undefined) this.#reader.advance();
    } catch (sealError) {
      this.#log.debug({ error: errorCode(sealError) }, 'sealing the segment after a failed append failed');
    }
  }

  /** Records written: the backlog grows, and a reader waiting for data (the shipper) wakes, once per write(2). */
  #appended(bytes: number, lineCount: number): void {
    this.#backlog.appended(bytes, lineCount, Date.now());
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

  #every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.#timers.push(timer);
  }

  /** Syncs, records the confirmed position and closes the files. Unconfirmed records stay for the next start. */
  close(): void {
    if (this.#closed) return;
    for (const timer of this.#timers) clearInterval(timer);
    // Records deferred in a turn that has not ended (their acknowledgements are still held).
    this.#writeDeferred();
    this.#gate.close('the write-ahead log is closed');
    try {
      this.#appender.close();
    } catch (error) {
      this.#log.error({ error: errorCode(error), dir: this.#dir }, 'write-ahead log fdatasync failed at close');
    }
    this.#checkpoint.persist(this.#reader.confirmedPosition);
    this.#reader.close();
    this.#closed = true;
  }
}
