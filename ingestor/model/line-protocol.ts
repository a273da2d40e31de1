/**
 * InfluxDB line protocol encoding: Point → one line, or a reason why the
 * point cannot be written faithfully.
 *
 * Escaping follows what the servers actually parse (checked against InfluxDB
 * 1.6 and VictoriaMetrics 1.79 on 2026-11-22):
 * - measurement: comma and space are escaped;
 * - tag keys, tag values, field keys: comma, equals sign and space;
 * - string field values: double quote and backslash.
 *
 * A backslash is the one character the servers disagree on: InfluxDB 1.x keeps
 * `\\` as two backslashes where VictoriaMetrics reads one, and a name ending in
 * a backslash escapes the separator after it. A lone backslash followed by an
 * ordinary character reads the same everywhere, so it is kept; a backslash
 * before another backslash, before a character that needs escaping, or at the
 * end of a name cannot be written unambiguously and is refused, never
 * silently altered.
 */
import type { FieldValue, Point } from './point.ts';
import { CONTROL_CHARACTER, UNWRITABLE_IN_STRING } from './text-rules.ts';

export class LineProtocolError extends Error {
  override readonly name = 'LineProtocolError';
}

const MEASUREMENT_SPECIALS = /[, ]/g;
const KEY_SPECIALS = /[,= ]/g;
const AMBIGUOUS_BACKSLASH = /\\(?=[\\,= ]|$)/;

function checkName(what: string, name: string): void {
  if (name.length === 0) throw new LineProtocolError(`${what} is empty`);
  if (CONTROL_CHARACTER.test(name)) {
    throw new LineProtocolError(`${what} ${JSON.stringify(name)} contains a control character`);
  }
  if (AMBIGUOUS_BACKSLASH.test(name)) {
    throw new LineProtocolError(
      `${what} ${JSON.stringify(name)} has a backslash before a backslash, comma, equals sign, space or at its end, which line protocol cannot carry unambiguously`,
    );
  }
}

function checkKey(what: string, key: string): void {
  checkName(what, key);
  if (key.startsWith('_')) {
    throw new LineProtocolError(`${what} ${JSON.stringify(key)} starts with "_", which InfluxDB reserves`);
  }
}

export function escapeMeasurement(name: string): string {
  checkKey('measurement', name);
  return name.replace(MEASUREMENT_SPECIALS, (c) => `\\${c}`);
}

function escapeKey(what: string, key: string): string {
  checkKey(what, key);
  if (key === 'time') throw new LineProtocolError(`${what} "time" is reserved by InfluxDB`);
  return key.replace(KEY_SPECIALS, (c) => `\\${c}`);
}

function escapeTagValue(key: string, value: string): string {
  checkName(`value of tag "${key}"`, value);
  return value.replace(KEY_SPECIALS, (c) => `\\${c}`);
}

function encodeFieldValue(key: string, field: FieldValue): string {
  switch (field.kind) {
    case 'float':
      if (!Number.isFinite(field.value)) {
        throw new LineProtocolError(`field "${key}" is ${String(field.value)}, which InfluxDB cannot store`);
      }
      // String(21) is "21", which line protocol reads as a float (only an
      // `i` or `u` suffix makes an integer), so the field type stays stable.
      return String(field.value);
    case 'int':
      return `${field.value}i`;
    case 'uint':
      return `${field.value}u`;
    case 'bool':
      return field.value ? 'true' : 'false';
    case 'string':
      if (UNWRITABLE_IN_STRING.test(field.value)) {
        throw new LineProtocolError(`string field "${key}" contains a control character`);
      }
      return `"${field.value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  }
}

/**
 * The same few names come with every message (the measurement, tag and field
 * keys, a fleet's devices and locations), and checking and escaping each was
 * a tenth of the ingestor's CPU while draining a backlog: each valid name is
 * checked and escaped once. Bounded: emptied when full. Invalid names are
 * never cached, so they throw every time.
 */
const ESCAPED_NAMES_MAX = 50_000;

function escapeOnce(escape: (name: string) => string): (name: string) => string {
  const escaped = new Map<string, string>();
  return (name) => {
    let result = escaped.get(name);
    if (result === undefined) {
      result = escape(name);
      if (escaped.size >= ESCAPED_NAMES_MAX) escaped.clear();
      escaped.set(name, result);
    }
    return result;
  };
}

const measurementOnce = escapeOnce(escapeMeasurement);
const tagKeyOnce = escapeOnce((key) => escapeKey('tag key', key));
const fieldKeyOnce = escapeOnce((key) => escapeKey('field key', key));
const tagValuesOnce = new Map<string, (value: string) => string>();

/** Tag values are cached per tag key, so that an error names the key. */
function tagValueOnce(key: string, value: string): string {
  let escape = tagValuesOnce.get(key);
  if (escape === undefined) {
    escape = escapeOnce((v) => escapeTagValue(key, v));
    if (tagValuesOnce.size >= ESCAPED_NAMES_MAX) tagValuesOnce.clear();
    tagValuesOnce.set(key, escape);
  }
  return escape(value);
}

/** Encodes one point as one line (no trailing newline). Throws LineProtocolError. */
export function encodePoint(point: Point): string {
  let line = measurementOnce(point.measurement);
  // Sorted tags are what InfluxDB stores anyway; sorting here makes the line
  // for a given point identical however its tags were assembled.
  for (const key of Object.keys(point.tags).sort()) {
    line += `,${tagKeyOnce(key)}=${tagValueOnce(key, point.tags[key] as string)}`;
  }
  const fieldKeys = Object.keys(point.fields);
  if (fieldKeys.length === 0) throw new LineProtocolError(`point in "${point.measurement}" has no fields`);
  let separator = ' ';
  for (const key of fieldKeys) {
    line += `${separator}${fieldKeyOnce(key)}=${encodeFieldValue(key, point.fields[key] as FieldValue)}`;
    separator = ',';
  }
  if (!Number.isSafeInteger(point.timestampMs)) {
    throw new LineProtocolError(`timestamp ${String(point.timestampMs)} is not a whole number of milliseconds`);
  }
  return `${line} ${point.timestampMs}`;
}
