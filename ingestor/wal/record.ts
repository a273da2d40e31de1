/**
 * The write-ahead log's record format. Pure.
 *
 *   [u32 LE payload length][u32 LE CRC-32 of the payload][payload]
 *
 * The payload is one message's lines of line protocol joined by "\n" (lines
 * never contain a newline: the encoder refuses them). The CRC tells a record
 * cut short by a crash, or damaged on disk, from a whole one.
 */
import { crc32 } from 'node:zlib';

export const HEADER_BYTES = 8;

export function encodeRecord(lines: readonly string[]): Buffer {
  const payload = Buffer.from(lines.join('\n'), 'utf8');
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  record.writeUInt32LE(payload.length, 0);
  record.writeUInt32LE(crc32(payload), 4);
  payload.copy(record, HEADER_BYTES);
  return record;
}

export type DecodeStop =
  /** The buffer ends inside a record: read more, or (at the end of a file) a torn write. */
  | { readonly kind: 'incomplete'; readonly offset: number }
  /** The record at offset fails its checksum or has an impossible length. */
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

export interface DecodedRecords {
  readonly records: string[][];
  /** Offset just past the last whole record. */
  readonly end: number;
  readonly stop: DecodeStop | undefined;
}

/**
 * Decodes whole records from `buffer`, starting at `start`, until `maxLines`
 * lines are collected (the record that crosses it is included), the buffer
 * ends, or a record is bad.
 */
export function decodeRecords(buffer: Buffer, start: number, maxLines: number, maxRecordBytes: number): DecodedRecords {
  const records: string[][] = [];
  let offset = start;
  let lines = 0;
  while (lines < maxLines) {
    if (offset === buffer.length) return { records, end: offset, stop: undefined };
    if (offset + HEADER_BYTES > buffer.length) return { records, end: offset, stop: { kind: 'incomplete', offset } };
    const length = buffer.readUInt32LE(offset);
    if (length === 0 || length > maxRecordBytes) {
      return { records, end: offset, stop: { kind: 'corrupt', offset, reason: `impossible record length ${length}` } };
    }
    if (offset + HEADER_BYTES + length > buffer.length) return { records, end: offset, stop: { kind: 'incomplete', offset } };
    const payload = buffer.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
    if (crc32(payload) !== buffer.readUInt32LE(offset + 4)) {
      return { records, end: offset, stop: { kind: 'corrupt', offset, reason: 'checksum mismatch' } };
    }
    const record = payload.toString('utf8').split('\n');
    records.push(record);
    lines += record.length;
    offset += HEADER_BYTES + length;
  }
  return { records, end: offset, stop: undefined };
}
