/**
 * Appends records to the active segment, all or nothing.
 *
 * A write(2) can stop part-way: a full disk writes what fits and then fails
 * with ENOSPC. Those partial bytes must not stay, or the next record would
 * land after them and every reader (and the next start's tail repair) would
 * take the junk for damage and skip or cut the acknowledged records after
 * it. So a failed append is truncated back to the last whole record before
 * the error is reported; if even that fails, the truncation is retried before
 * the next append, and nothing is appended until it succeeds.
 *
 * Records may also be deferred and taken together (takeDeferred) to be
 * appended as one: one write(2) for a turn of the event loop's records
 * instead of one each, all or nothing like any append.
 */
import { errorCode, type WalFs } from './files.ts';
import type { Segment, SegmentList } from './segments.ts';

export class AppendError extends Error {
  override readonly name = 'AppendError';
  constructor(
    /** errno code (ENOSPC, EIO, …) or a short description. */
    readonly code: string,
    cause: unknown,
  ) {
    super(`cannot append to the write-ahead log: ${code}`, { cause });
  }
}

export interface AppenderOptions {
  readonly segmentBytes: number;
  /** fdatasync after every append (WAL_SYNC_INTERVAL_MS=0). */
  readonly syncEachAppend: boolean;
  /** Id of the first segment this run creates. */
  readonly firstSegmentId: number;
}

export class Appender {
  readonly #fs: WalFs;
  readonly #segments: SegmentList;
  readonly #options: AppenderOptions;
  #active: { readonly segment: Segment; readonly fd: number } | undefined;
  #nextId: number;
  #dirty = false;
  /** The active segment's file may hold bytes past its last whole record. */
  #truncatePending = false;
  /** Records deferred to the next flush(), in order, and their total size. */
  #deferred: Buffer[] = [];
  #deferredBytes = 0;

  constructor(fs: WalFs, segments: SegmentList, options: AppenderOptions) {
    this.#fs = fs;
    this.#segments = segments;
    this.#options = options;
    this.#nextId = options.firstSegmentId;
  }

  get deferredBytes(): number {
    return this.#deferredBytes;
  }

  get deferredRecords(): number {
    return this.#deferred.length;
  }

  /**
   * Keeps the record to be taken with the others by takeDeferred(). The
   * caller writes those first when `fitsDeferred` says the record would take
   * them past the active segment's end.
   */
  defer(record: Buffer): void {
    this.#deferred.push(record);
    this.#deferredBytes += record.length;
  }

  /** Whether the record can join the deferred ones in the active segment. */
  fitsDeferred(recordBytes: number): boolean {
    return this.#deferredBytes === 0 || (this.#active?.segment.bytes ?? 0) + this.#deferredBytes + recordBytes <= this.#options.segmentBytes;
  }

  /** The deferred records as one buffer (to write with append(): one write(2)), and forgets them. */
  takeDeferred(): Buffer | undefined {
    if (this.#deferred.length === 0) return undefined;
    const batch = this.#deferred.length === 1 ? (this.#deferred[0] as Buffer) : Buffer.concat(this.#deferred, this.#deferredBytes);
    this.#deferred = [];
    this.#deferredBytes = 0;
    return batch;
  }

  /** Writes the whole record, or throws AppendError with the log as it was before. */
  append(record: Buffer): void {
    if (this.#deferred.length > 0) throw new Error('Appender: write the deferred records (takeDeferred) before append()');
    try {
      if (this.#truncatePending && this.#active !== undefined) {
        this.#fs.truncate(this.#active.fd, this.#active.segment.bytes);
        this.#truncatePending = false;
      }
      const current = this.#active;
      if (current !== undefined && current.segment.bytes > 0 && current.segment.bytes + record.length > this.#options.segmentBytes) this.seal();
      const active = this.#active ?? this.#create();
      this.#writeAll(active.fd, record);
      if (this.#options.syncEachAppend) this.#fs.datasync(active.fd);
      this.#segments.grew(active.segment, record.length);
      this.#dirty = !this.#options.syncEachAppend;
    } catch (error) {
      this.#undoPartial();
      throw error instanceof AppendError ? error : new AppendError(errorCode(error), error);
    }
  }

  /** Bytes past the last whole record, if any: cut them off. */
  #undoPartial(): void {
    if (this.#active === undefined) return;
    try {
      this.#fs.truncate(this.#active.fd, this.#active.segment.bytes);
    } catch {
      this.#truncatePending = true;
    }
  }

  #writeAll(fd: number, record: Buffer): void {
    let written = 0;
    while (written < record.length) {
      const n = this.#fs.write(fd, record, written, record.length - written);
      if (n <= 0) throw new AppendError('EIO', new Error(`write(2) wrote ${n} of ${record.length - written} bytes`));
      written += n;
    }
  }

  #create(): { segment: Segment; fd: number } {
    const created = this.#segments.create(this.#nextId);
    this.#nextId += 1;
    this.#active = created;
    return created;
  }

  /**
   * Seals the active segment (when it holds records and its file is whole),
   * so that it can be deleted once confirmed; the next append starts a new
   * one. Returns the sealed segment.
   */
  seal(): Segment | undefined {
    const active = this.#active;
    if (active === undefined || active.segment.bytes === 0 || this.#truncatePending) return undefined;
    try {
      this.sync();
    } finally {
      // Sealed even when the sync fails: the bytes are in the kernel, and a
      // segment that can never be sealed could never be deleted.
      this.#fs.close(active.fd);
      active.segment.sealed = true;
      this.#active = undefined;
      this.#dirty = false;
    }
    return active.segment;
  }

  /** fdatasync the active segment if anything was written since the last sync. */
  sync(): void {
    if (!this.#dirty || this.#active === undefined) return;
    this.#fs.datasync(this.#active.fd);
    this.#dirty = false;
  }

  /** Syncs and closes the active segment; it is sealed by the next open. */
  close(): void {
    const active = this.#active;
    if (active === undefined) return;
    try {
      this.sync();
    } finally {
      this.#fs.close(active.fd);
      this.#active = undefined;
    }
  }

  /** Creates the first segment now, to find out early whether the directory is writable. */
  prepare(): void {
    this.#active ??= this.#create();
  }
}
