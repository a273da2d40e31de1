/**
 * The log's segment files: `{id, 20 digits}.wal` in the log directory, ids
 * rising, oldest first. A segment is appended to until it is sealed (full,
 * the process stopped, or an append failed), then only read and, once every
 * record in it is confirmed, deleted.
 */
import { join } from 'node:path';
import { syncDirectory, type WalFs } from './files.ts';

export interface Segment {
  readonly id: number;
  readonly path: string;
  /** Bytes of whole records: the reader never reads past this. */
  bytes: number;
  /** No more appends: the segment may be deleted once fully read and confirmed. */
  sealed: boolean;
  fullyRead: boolean;
  /** Batches read from it and not yet confirmed. */
  outstanding: number;
}

const SEGMENT_NAME = /^(\d{20})\.wal$/;

export const segmentPath = (dir: string, id: number): string => join(dir, `${String(id).padStart(20, '0')}.wal`);

/** Ids of the segment files in `dir`, oldest first. */
export function listSegmentIds(fs: WalFs, dir: string): number[] {
  return fs
    .list(dir)
    .map((name) => SEGMENT_NAME.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b);
}

/** The live segments, oldest first, and the bytes they hold. */
export class SegmentList {
  readonly #fs: WalFs;
  readonly #dir: string;
  readonly #segments: Segment[] = [];
  #totalBytes = 0;

  constructor(fs: WalFs, dir: string, existing: readonly Segment[]) {
    this.#fs = fs;
    this.#dir = dir;
    for (const segment of existing) this.#add(segment);
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  get length(): number {
    return this.#segments.length;
  }

  at(index: number): Segment | undefined {
    return this.#segments[index];
  }

  indexOf(segment: Segment): number {
    return this.#segments.indexOf(segment);
  }

  byId(id: number): Segment | undefined {
    return this.#segments.find((segment) => segment.id === id);
  }

  last(): Segment | undefined {
    return this.#segments.at(-1);
  }

  /** Bytes after a position (segment id, offset). */
  bytesAfter(position: { readonly segmentId: number; readonly offset: number }): number {
    let bytes = 0;
    for (const segment of this.#segments) {
      if (segment.id > position.segmentId) bytes += segment.bytes;
      else if (segment.id === position.segmentId) bytes += Math.max(0, segment.bytes - position.offset);
    }
    return bytes;
  }

  /** Records appended to a segment. */
  grew(segment: Segment, bytes: number): void {
    segment.bytes += bytes;
    this.#totalBytes += bytes;
  }

  /** Creates the file of a new, empty segment (durably: the directory is synced) and adds it. */
  create(id: number): { segment: Segment; fd: number } {
    const path = segmentPath(this.#dir, id);
    const fd = this.#fs.open(path, 'a');
    try {
      syncDirectory(this.#fs, this.#dir);
    } catch (error) {
      this.#fs.close(fd);
      throw error;
    }
    const segment: Segment = { id, path, bytes: 0, sealed: false, fullyRead: false, outstanding: 0 };
    this.#add(segment);
    return { segment, fd };
  }

  /** Deletes the segment's file and syncs the directory; returns its index before removal. */
  delete(segment: Segment): number {
    this.#fs.unlink(segment.path);
    const index = this.#segments.indexOf(segment);
    this.#segments.splice(index, 1);
    this.#totalBytes -= segment.bytes;
    syncDirectory(this.#fs, this.#dir);
    return index;
  }

  #add(segment: Segment): void {
    this.#segments.push(segment);
    this.#totalBytes += segment.bytes;
  }
}
