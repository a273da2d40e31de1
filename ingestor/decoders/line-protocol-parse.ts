/**
 * A strict reader of InfluxDB line protocol, for devices that send it: each
 * line must parse completely, or the message is refused. Escapes as InfluxDB
 * reads them: `\,` `\=` `\ ` in names and tag values, `\"` `\\` in strings;
 * any other backslash is literal. Pure.
 */
import type { FieldValue } from '../model/point.ts';
import { DECIMAL_NUMBER } from '../model/text-rules.ts';

export interface ParsedLine {
  readonly measurement: string;
  readonly tags: Record<string, string>;
  readonly fields: Record<string, FieldValue>;
  /** In the sender's precision; the route says which. */
  readonly timestamp: bigint | undefined;
}

export class LineParseError extends Error {}

/** Splits on `separator` where it is not escaped and not inside a quoted string. */
function splitUnescaped(text: string, separator: string, quotes: boolean): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      current += c + (text[i + 1] as string);
      i += 1;
    } else if (quotes && c === '"') {
      quoted = !quoted;
      current += c;
    } else if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (quoted) throw new LineParseError('a string field is not closed');
  parts.push(current);
  return parts;
}

const unescapeName = (text: string): string => text.replace(/\\([,= ])/g, '$1');

function keyValue(part: string, what: string): [string, string] {
  const [key, ...rest] = splitUnescaped(part, '=', true);
  if (key === undefined || key === '' || rest.length === 0) throw new LineParseError(`${what} ${JSON.stringify(part)} is not key=value`);
  return [unescapeName(key), rest.join('=')];
}


function fieldValue(raw: string, key: string): FieldValue {
  if (raw.startsWith('"')) {
    if (!raw.endsWith('"') || raw.length < 2) throw new LineParseError(`field ${key}: string not closed`);
    return { kind: 'string', value: raw.slice(1, -1).replace(/\\(["\\])/g, '$1') };
  }
  if (/^-?\d+i$/.test(raw)) return { kind: 'int', value: BigInt(raw.slice(0, -1)) };
  if (/^\d+u$/.test(raw)) return { kind: 'uint', value: BigInt(raw.slice(0, -1)) };
  if (/^(t|T|true|True|TRUE)$/.test(raw)) return { kind: 'bool', value: true };
  if (/^(f|F|false|False|FALSE)$/.test(raw)) return { kind: 'bool', value: false };
  if (DECIMAL_NUMBER.test(raw) && Number.isFinite(Number(raw))) return { kind: 'float', value: Number(raw) };
  throw new LineParseError(`field ${key}: ${JSON.stringify(raw.slice(0, 40))} is not a float, integer, boolean or string`);
}

export function parseLine(line: string): ParsedLine {
  const sections = splitUnescaped(line, ' ', true).filter((s, i) => s !== '' || i === 0);
  if (sections.length < 2 || sections.length > 3) throw new LineParseError('expected "measurement[,tags] fields [timestamp]"');
  const [series, fieldSection, time] = sections as [string, string, string | undefined];
  const [measurement, ...tagParts] = splitUnescaped(series, ',', false);
  if (measurement === undefined || measurement === '') throw new LineParseError('the measurement is empty');
  const tags: Record<string, string> = {};
  for (const part of tagParts) {
    const [key, value] = keyValue(part, 'tag');
    tags[key] = unescapeName(value);
  }
  const fields: Record<string, FieldValue> = {};
  for (const part of splitUnescaped(fieldSection, ',', true)) {
    const [key, value] = keyValue(part, 'field');
    fields[key] = fieldValue(value, key);
  }
  if (time !== undefined && !/^-?\d{1,19}$/.test(time)) throw new LineParseError(`timestamp ${JSON.stringify(time.slice(0, 30))} is not an integer`);
  return { measurement: unescapeName(measurement), tags, fields, timestamp: time === undefined ? undefined : BigInt(time) };
}

export function parseLines(text: string): ParsedLine[] {
  const lines = text.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line.trim() !== '' && !line.startsWith('#'));
  if (lines.length === 0) throw new LineParseError('no lines');
  return lines.map((line, index) => {
    try {
      return parseLine(line);
    } catch (error) {
      throw new LineParseError(`line ${index + 1}: ${(error as Error).message}`);
    }
  });
}
