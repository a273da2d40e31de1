/** Payload bytes → text → JSON, each step with its own rejection. Pure. */
import { reject, type Rejection } from './types.ts';

/** @default 256 KiB: far above any sensor reading, far below what hurts memory. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function payloadText(payload: Buffer, maxBytes: number): { ok: true; text: string } | Rejection {
  if (payload.length > maxBytes) {
    return reject('payload_too_large', `payload of ${payload.length} bytes exceeds the ${maxBytes}-byte limit`);
  }
  try {
    return { ok: true, text: strictUtf8.decode(payload) };
  } catch {
    return reject('invalid_utf8', 'payload is not valid UTF-8');
  }
}

export function parseJson(text: string): { ok: true; value: unknown } | Rejection {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    // RangeError from absurdly deep nesting lands here too, and is as
    // harmless as a syntax error.
    return reject('invalid_json', `payload is not JSON: ${(error as Error).message}`);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
