/** Payload bytes → text → JSON, each step with its own rejection. Pure. */
import { reject, type Rejection } from '../contracts.ts';

/** @default 256 KiB: far above any sensor reading, far below what hurts memory. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The rejection of a payload over `maxBytes`, or undefined. */
export function oversized(payload: Buffer, maxBytes: number): Rejection | undefined {
  return payload.length > maxBytes ? reject('payload_too_large', `payload of ${payload.length} bytes exceeds the ${maxBytes}-byte limit`) : undefined;
}

export function payloadText(payload: Buffer, maxBytes: number): { ok: true; text: string } | Rejection {
  const tooLarge = oversized(payload, maxBytes);
  if (tooLarge !== undefined) return tooLarge;
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
