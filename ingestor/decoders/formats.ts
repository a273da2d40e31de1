/**
 * Payload formats → readings: field values as the payload spelled them, plus
 * the payload's own time and tags. Typing, renaming and tagging are the
 * route's business (routes/route.ts). Pure.
 */
import { DECIMAL_NUMBER } from '../model/text-rules.ts';
import { isPlainObject } from './payload.ts';
import { reject, type Rejection } from '../contracts.ts';

export type Scalar = number | boolean | string;

export interface Reading {
  readonly fields: Record<string, Scalar>;
  /** The raw timestamp value, if the payload had one. */
  readonly time?: unknown;
  readonly tags?: Record<string, string>;
}

export const TIMESTAMP_KEYS = ['ts', 'timestamp', 'time'] as const;
/** Deeper JSON is refused: no sensor reading nests like that, an attack might. */
export const MAX_JSON_DEPTH = 8;

/** `{"a":{"b":1},"c":[1,2]}` → `a_b=1, c_0=1, c_1=2`. Nulls are left out. */
function flatten(value: unknown, prefix: string, into: Record<string, Scalar>, depth: number): Rejection | undefined {
  if (depth > MAX_JSON_DEPTH) return reject('too_deep', `JSON nested more than ${MAX_JSON_DEPTH} levels`);
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') {
    into[prefix] = value;
    return undefined;
  }
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, i) => [String(i), item]) : Object.entries(value as Record<string, unknown>);
  for (const [key, item] of entries) {
    const problem = flatten(item, prefix === '' ? key : `${prefix}_${key}`, into, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function jsonReading(body: Record<string, unknown>, timestampKey: string | undefined): Reading | Rejection {
  const key = timestampKey ?? TIMESTAMP_KEYS.find((k) => body[k] !== undefined);
  const fields: Record<string, Scalar> = {};
  for (const [name, value] of Object.entries(body)) {
    if (name === key) continue;
    const problem = flatten(value, name, fields, 1);
    if (problem !== undefined) return problem;
  }
  return key === undefined ? { fields } : { fields, time: body[key] };
}

/** A JSON object (one reading) or an array of objects (one reading each). */
export function jsonReadings(value: unknown, timestampKey?: string): Reading[] | Rejection {
  if (isPlainObject(value)) {
    const reading = jsonReading(value, timestampKey);
    return 'ok' in reading ? reading : [reading];
  }
  if (Array.isArray(value) && value.length > 0 && value.every(isPlainObject)) {
    const readings: Reading[] = [];
    for (const item of value) {
      const reading = jsonReading(item, timestampKey);
      if ('ok' in reading) return reading;
      readings.push(reading);
    }
    return readings;
  }
  return reject('not_an_object', 'payload is JSON but neither an object of readings nor an array of such objects');
}

/** `{"value": 21.4, "unit": "C", "timestamp": …, "quality": "good"}`: one field, named by the route. */
export function envelopeReading(value: unknown, field: string): Reading | Rejection {
  if (!isPlainObject(value) || !('value' in value)) return reject('not_an_object', 'payload is not an envelope {"value": …, "unit", "timestamp", "quality"}');
  const reading = value.value;
  if (typeof reading !== 'number' && typeof reading !== 'boolean' && typeof reading !== 'string') {
    return reject('bad_field', `envelope "value" is ${JSON.stringify(reading)}, not a number, boolean or text`);
  }
  const tags: Record<string, string> = {};
  for (const key of ['unit', 'quality'] as const) {
    const tag = value[key];
    if (typeof tag === 'string' || typeof tag === 'number') tags[key] = String(tag);
  }
  return { fields: { [field]: reading }, time: value.timestamp ?? value.ts ?? value.time, tags };
}

const WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, on: true, off: false };

/** A bare number, boolean, or on/off/true/false: one field, named by the route. */
export function bareReading(text: string, field: string): Reading | Rejection {
  const trimmed = text.trim();
  const word = WORDS[trimmed.toLowerCase()];
  if (word !== undefined) return { fields: { [field]: word } };
  if (DECIMAL_NUMBER.test(trimmed)) return { fields: { [field]: Number(trimmed) } };
  return reject('bad_field', `payload ${JSON.stringify(trimmed.slice(0, 40))} is not a number, true/false or on/off`);
}
