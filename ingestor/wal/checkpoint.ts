/**
 * The confirmed position, persisted: `confirmed.json` in the log directory,
 * `{"segment": 12, "offset": 34567}`, meaning every record in segments
 * before 12, and before byte 34567 of segment 12, is stored in InfluxDB (or
 * refused by it for good). A restart reads on from there instead of
 * resending the oldest segment's confirmed records.
 *
 * Written atomically (temporary file, fsync, rename, directory fsync). A
 * missing or unreadable checkpoint only means more is resent: replays are
 * idempotent in InfluxDB, so the safe default is "nothing confirmed".
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorCode, writeFileAtomic, type WalFs } from './files.ts';
import type { LogPosition } from './reader.ts';

export const CHECKPOINT_FILE = 'confirmed.json';

export type CheckpointRead =
  | { readonly ok: true; readonly position: LogPosition | undefined }
  | { readonly ok: false; readonly reason: string };

/** Parses a checkpoint file's content. Pure. */
export function parseCheckpoint(content: string): LogPosition | string {
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    return 'not JSON';
  }
  const { segment, offset } = (json ?? {}) as { segment?: unknown; offset?: unknown };
  if (!Number.isSafeInteger(segment) || (segment as number) < 0 || !Number.isSafeInteger(offset) || (offset as number) < 0) {
    return 'expected {"segment": <integer>, "offset": <integer>}';
  }
  return { segmentId: segment as number, offset: offset as number };
}

export function readCheckpoint(fs: WalFs, dir: string): CheckpointRead {
  const content = fs.readFile(join(dir, CHECKPOINT_FILE));
  if (content === undefined) return { ok: true, position: undefined };
  const parsed = parseCheckpoint(content.toString('utf8'));
  return typeof parsed === 'string' ? { ok: false, reason: parsed } : { ok: true, position: parsed };
}

export function writeCheckpoint(fs: WalFs, dir: string, position: LogPosition): void {
  const content = `${JSON.stringify({ segment: position.segmentId, offset: position.offset })}\n`;
  writeFileAtomic(fs, dir, CHECKPOINT_FILE, Buffer.from(content, 'utf8'));
}

/**
 * Writes the confirmed position when it moved. A failure (ENOSPC on a full
 * disk) is logged once, retried at the next call, and its recovery logged:
 * it only means a restart would resend more.
 */
export class CheckpointKeeper {
  readonly #fs: WalFs;
  readonly #dir: string;
  readonly #log: Logger;
  #written: LogPosition;
  #failing = false;

  constructor(fs: WalFs, dir: string, log: Logger, current: LogPosition) {
    this.#fs = fs;
    this.#dir = dir;
    this.#log = log;
    this.#written = current;
  }

  persist(position: LogPosition): void {
    if (position.segmentId === this.#written.segmentId && position.offset === this.#written.offset) return;
    try {
      writeCheckpoint(this.#fs, this.#dir, position);
      this.#written = position;
      if (this.#failing) this.#log.info('write-ahead log records its confirmed position again');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        this.#log.warn({ error: errorCode(error), dir: this.#dir }, 'write-ahead log cannot record its confirmed position; a restart would resend points InfluxDB already has');
      }
      this.#failing = true;
    }
  }
}
