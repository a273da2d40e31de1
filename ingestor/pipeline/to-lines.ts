/**
 * Points → lines of line protocol, or a rejection. Pure. A message is all or
 * nothing: if one of its points cannot be encoded, none of them is written,
 * so a reading is never stored half.
 */
import { reject, type Rejection } from '../contracts.ts';
import { encodePoint, LineProtocolError } from '../model/line-protocol.ts';
import type { Point } from '../model/point.ts';

export function encodePoints(points: readonly Point[]): { ok: true; lines: string[] } | Rejection {
  const lines: string[] = [];
  for (const point of points) {
    try {
      lines.push(encodePoint(point));
    } catch (error) {
      if (error instanceof LineProtocolError) return reject('bad_point', error.message);
      throw error;
    }
  }
  return { ok: true, lines };
}
