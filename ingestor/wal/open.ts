/**
 * Opening the log directory left by a previous run: drop what its
 * checkpoint says is confirmed, cut a torn tail off the newest segment, and
 * work out where reading starts and which id the next segment gets.
 */
import type { Logger } from 'pino';
import { readCheckpoint } from './checkpoint.ts';
import { errorCode, fileSize, syncDirectory, type WalFs } from './files.ts';
import type { LogPosition } from './reader.ts';
import { repairTail } from './repair.ts';
import { listSegmentIds, segmentPath, type Segment } from './segments.ts';

export class WalError extends Error {
  override readonly name = 'WalError';
}

export interface OpenedLog {
  /** The previous run's unconfirmed segments, oldest first, all sealed. */
  readonly segments: Segment[];
  /** Where reading starts: the previous run's confirmed position. */
  readonly start: LogPosition;
  /** Above every id used before, so that no checkpoint can cover a new segment. */
  readonly nextSegmentId: number;
}

/** Creates the directory if needed and reads what it holds. Throws WalError saying what failed. */
export function openDirectory(fs: WalFs, dir: string, segmentBytes: number, log: Logger): OpenedLog {
  step('create the directory', () => fs.mkdir(dir));
  return step('read the directory', () => openExisting(fs, dir, segmentBytes, log));
}

function step<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw new WalError(`cannot ${what} (${errorCode(error)})`);
  }
}

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
    // The confirmed offset is a record boundary: no need to rescan what lies before it.
    const from = confirmed?.segmentId === newest.id ? confirmed.offset : 0;
    repairTail(fs, newest, from, segmentBytes, log);
  }
  // A checkpoint past a segment's end (its tail lost in a power cut) covers the whole segment.
  const isConfirmed = (segment: Segment): boolean =>
    confirmed !== undefined && (segment.id < confirmed.segmentId || (segment.id === confirmed.segmentId && segment.bytes <= confirmed.offset));
  const gone = segments.filter((segment) => segment.bytes === 0 || isConfirmed(segment));
  for (const segment of gone) fs.unlink(segment.path);
  if (gone.length > 0) syncDirectory(fs, dir);
  const kept = segments.filter((segment) => !gone.includes(segment));
  const nextSegmentId = Math.max(segments.at(-1)?.id ?? 0, confirmed?.segmentId ?? 0) + 1;
  const first = kept[0];
  const start: LogPosition = first === undefined
    ? { segmentId: nextSegmentId, offset: 0 }
    : { segmentId: first.id, offset: confirmed?.segmentId === first.id ? confirmed.offset : 0 };
  return { segments: kept, start, nextSegmentId };
}
