/**
 * At open: cut a torn tail off the newest segment. A crash (or power cut)
 * during write(2) can leave the last record cut short; every whole record
 * before it is kept, and the cut is reported with its size.
 */
import type { Logger } from 'pino';
import type { WalFs } from './files.ts';
import { scanRecords } from './scanner.ts';
import type { Segment } from './segments.ts';

/** `from` is a record boundary known to be good (the confirmed position), to avoid rescanning. */
export function repairTail(fs: WalFs, segment: Segment, from: number, maxRecordBytes: number, log: Logger): void {
  const fd = fs.open(segment.path, 'r+');
  try {
    const scan = scanRecords(fs, fd, { from: Math.min(from, segment.bytes), to: segment.bytes, maxLines: Number.POSITIVE_INFINITY, maxRecordBytes, keepLines: false });
    if (scan.stop === undefined) return;
    log.warn(
      { segment: segment.path, offset: scan.end, cutBytes: segment.bytes - scan.end, error: scan.stop.reason },
      'write-ahead log ends in a torn write (a crash mid-append); cutting it off, every record before it is kept',
    );
    fs.truncate(fd, scan.end);
    fs.datasync(fd);
    segment.bytes = scan.end;
  } finally {
    fs.close(fd);
  }
}
