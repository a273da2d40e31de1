/**
 * The one loop that reads records out of a segment file in chunks: used by
 * the reader (batches for InfluxDB) and by the tail repair at open (which
 * only needs to know where the whole records end).
 */
import { readAt, type WalFs } from './files.ts';
import { decodeRecords, HEADER_BYTES } from './record.ts';

const READ_CHUNK_BYTES = 1024 * 1024;

export type ScanStop =
  /** The last record runs past `to`: cut short by a crash during write(2), or a partial append. */
  | { readonly kind: 'torn'; readonly reason: string }
  /** A record fails its checksum or has an impossible length. */
  | { readonly kind: 'corrupt'; readonly reason: string };

export interface ScanResult {
  /** Offset just past the last whole record read. */
  readonly end: number;
  /** Lines read (none when the caller asked only for the boundary). */
  readonly lines: string[];
  /** Why the scan stopped before `to` and `maxLines`; undefined when it did not. */
  readonly stop: ScanStop | undefined;
}

export interface ScanOptions {
  readonly from: number;
  readonly to: number;
  /** Stop once this many lines are read (the record crossing it is included). */
  readonly maxLines: number;
  /** A record longer than this is damage, not data. */
  readonly maxRecordBytes: number;
  /** Keep the lines (the reader) or only find the boundary (the repair). */
  readonly keepLines: boolean;
}

/** Reads whole records from `fd` between `from` and `to`. */
export function scanRecords(fs: WalFs, fd: number, options: ScanOptions): ScanResult {
  const { to, maxRecordBytes } = options;
  const lines: string[] = [];
  let lineCount = 0;
  let offset = options.from;
  while (lineCount < options.maxLines && offset < to) {
    let chunk = readAt(fs, fd, offset, Math.min(to - offset, READ_CHUNK_BYTES));
    if (chunk.length >= HEADER_BYTES && HEADER_BYTES + chunk.readUInt32LE(0) > chunk.length) {
      // A record longer than the chunk: read exactly that record.
      const length = chunk.readUInt32LE(0);
      if (length > 0 && length <= maxRecordBytes) chunk = readAt(fs, fd, offset, Math.min(to - offset, HEADER_BYTES + length));
    }
    const decoded = decodeRecords(chunk, 0, options.maxLines - lineCount, maxRecordBytes);
    for (const record of decoded.records) {
      lineCount += record.length;
      if (options.keepLines) for (const line of record) lines.push(line);
    }
    offset += decoded.end;
    if (decoded.stop?.kind === 'corrupt') return { end: offset, lines, stop: { kind: 'corrupt', reason: decoded.stop.reason } };
    if (decoded.stop?.kind === 'incomplete' && decoded.records.length === 0) {
      // Not even one whole record fits before `to`: the bytes there are a torn write.
      return { end: offset, lines, stop: { kind: 'torn', reason: 'record cut short' } };
    }
    if (chunk.length === 0) return { end: offset, lines, stop: { kind: 'torn', reason: 'the file is shorter than the log recorded' } };
  }
  return { end: offset, lines, stop: undefined };
}
