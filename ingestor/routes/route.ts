/**
 * A route: a topic template, a payload format, and how captures and payload
 * become a point. `applyRoute` is pure: (route, topic captures, message) →
 * points or a rejection.
 */
import { bareReading, envelopeReading, jsonReadings, type Reading } from '../decoders/formats.ts';
import { LineParseError, parseLines } from '../decoders/line-protocol-parse.ts';
import { parseJson, payloadText } from '../decoders/payload.ts';
import { resolveTimestampMs } from '../decoders/timestamp.ts';
import { reject, type Captures, type DecodeBounds, type DecodeResult, type InboundMessage, type Rejection } from '../contracts.ts';
import type { FieldValue, Point } from '../model/point.ts';
import { typedField, type FieldType } from './field-types.ts';
import type { TopicTemplate } from './template.ts';

export const FORMATS = ['json', 'envelope', 'value', 'lp'] as const;
export type Format = (typeof FORMATS)[number];
export const LP_PRECISIONS = ['ns', 'us', 'ms', 's'] as const;
export type LpPrecision = (typeof LP_PRECISIONS)[number];

/** A literal, or `{capture}` taken from the topic. */
export type ValueSpec = { readonly capture: string } | { readonly literal: string };

export interface Route {
  readonly name: string;
  readonly template: TopicTemplate;
  readonly format: Format;
  readonly measurement: ValueSpec;
  readonly device: ValueSpec;
  /** Undefined: the device directory's location, or "unknown". */
  readonly location: ValueSpec | undefined;
  /** value and envelope formats: the field's name. */
  readonly field: ValueSpec;
  /** Captures that become tags, under their own names. */
  readonly tags: readonly string[];
  readonly staticTags: Readonly<Record<string, string>>;
  /** String payload fields that become tags instead of being left out. */
  readonly payloadTags: readonly string[];
  readonly types: Readonly<Record<string, FieldType>>;
  readonly rename: Readonly<Record<string, string>>;
  readonly include: ReadonlySet<string> | undefined;
  readonly exclude: ReadonlySet<string>;
  /** The payload field holding the time; default ts, timestamp or time. */
  readonly timestamp: string | undefined;
  readonly lpPrecision: LpPrecision;
}

const resolve = (spec: ValueSpec, captures: Readonly<Record<string, string>>): string =>
  'capture' in spec ? (captures[spec.capture] as string) : spec.literal;

function routeTags(route: Route, captures: Readonly<Record<string, string>>): Record<string, string> {
  const tags: Record<string, string> = { ...route.staticTags };
  for (const name of route.tags) tags[name] = captures[name] as string;
  tags.device = resolve(route.device, captures);
  if (route.location !== undefined) tags.location = resolve(route.location, captures);
  return tags;
}

/** Rename, include/exclude, type; string fields listed in payload_tags become tags. */
function readingToPoint(route: Route, reading: Reading, tags: Record<string, string>, measurement: string, timestampMs: number): Point | Rejection {
  const fields: Record<string, FieldValue> = {};
  const pointTags: Record<string, string> = { ...reading.tags, ...tags };
  for (const [rawName, raw] of Object.entries(reading.fields)) {
    const name = route.rename[rawName] ?? rawName;
    if (route.payloadTags.includes(name)) {
      pointTags[name] = String(raw);
      continue;
    }
    if ((route.include !== undefined && !route.include.has(name)) || route.exclude.has(name)) continue;
    const field = typedField(name, raw, route.types[name]);
    if (field === undefined) continue;
    if ('ok' in field) return field;
    fields[name] = field;
  }
  if (Object.keys(fields).length === 0) return reject('no_fields', 'payload has no readings this route keeps (numbers, booleans, or declared types)');
  return { measurement, tags: pointTags, fields, timestampMs };
}

const NS_PER: Readonly<Record<LpPrecision, bigint>> = { ns: 1_000_000n, us: 1000n, ms: 1n, s: 1n };

function lineProtocolPoints(route: Route, text: string, tags: Record<string, string>, message: InboundMessage, limits: DecodeBounds): DecodeResult {
  let lines;
  try {
    lines = parseLines(text);
  } catch (error) {
    if (error instanceof LineParseError) return reject('bad_line_protocol', error.message);
    throw error;
  }
  const points: Point[] = [];
  for (const line of lines) {
    // The line's time in ms (sub-millisecond digits dropped: we write with ms precision).
    const t = line.timestamp;
    const ms = t === undefined ? undefined : route.lpPrecision === 's' ? Number(t) * 1000 : Number(t / NS_PER[route.lpPrecision]);
    const time = resolveTimestampMs(ms, message.receivedAtMs, limits.maxFutureMs);
    if (!time.ok) return time;
    // The topic is the authority on who sent it: route tags win over the line's.
    points.push({ measurement: line.measurement, tags: { ...line.tags, ...tags }, fields: line.fields, timestampMs: time.ms });
  }
  return { ok: true, points };
}

export function applyRoute(route: Route, captures: Captures, message: InboundMessage, limits: DecodeBounds): DecodeResult {
  const text = payloadText(message.payload, limits.maxPayloadBytes);
  if (!text.ok) return text;
  const tags = routeTags(route, captures);
  if (route.format === 'lp') return lineProtocolPoints(route, text.text, tags, message, limits);

  let readings: Reading[];
  const fieldName = resolve(route.field, captures);
  if (route.format === 'value') {
    const reading = bareReading(text.text, fieldName);
    if ('ok' in reading) return reading;
    readings = [reading];
  } else {
    const json = parseJson(text.text);
    if (!json.ok) return json;
    const decoded = route.format === 'json' ? jsonReadings(json.value, route.timestamp) : envelopeReading(json.value, fieldName);
    if ('ok' in decoded) return decoded;
    readings = Array.isArray(decoded) ? decoded : [decoded];
  }

  const measurement = resolve(route.measurement, captures);
  const points: Point[] = [];
  for (const reading of readings) {
    const time = resolveTimestampMs(reading.time, message.receivedAtMs, limits.maxFutureMs);
    if (!time.ok) return time;
    const point = readingToPoint(route, reading, tags, measurement, time.ms);
    if ('ok' in point) return point;
    points.push(point);
  }
  return { ok: true, points };
}
