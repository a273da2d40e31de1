/**
 * Parsers shared by every program's schema: pure functions of a variable's
 * raw text that return the value or throw a ValueProblem saying what is
 * expected. One rule each (a whole number, a boolean word, a URL ...), so the
 * ingestor, the notifier, the simulator, the development broker, setup and
 * `npm run stack` accept the same spellings and say the same things.
 */
import { ValueProblem, type Parser } from './schema.ts';

/** Text as given, trimmed. */
export const text: Parser<string> = (raw) => raw.trim();

/** Text exactly as given (passwords may start or end with spaces). */
export const verbatim: Parser<string> = (raw) => raw;

const WHOLE_NUMBER = /^\d+$/;

/** A whole number from min to max (no sign, no decimals). */
export function integer(min: number, max: number, expected = `expected a whole number from ${min} to ${max}`): Parser<number> {
  return (raw) => {
    const trimmed = raw.trim();
    const value = WHOLE_NUMBER.test(trimmed) ? Number(trimmed) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) throw new ValueProblem(expected);
    return value;
  };
}

/** A duration in milliseconds: a whole number from min to max. */
export const durationMs = (min: number, max: number): Parser<number> => integer(min, max);

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration with its unit (`500ms`, `90s`, `15m`, `12h`, `30d`), from
 * minMs to maxMs, in milliseconds; with `off`, that word (or `0`) gives
 * undefined: the feature is turned off.
 */
export function durationWithUnit(minMs: number, maxMs: number, off?: 'off'): Parser<number | undefined> {
  const offText = off === undefined ? '' : ', or off';
  const expected = `expected a duration with its unit (ms, s, m, h, d), e.g. 30d or 12h, from ${minMs / 1000} s to ${maxMs / 86_400_000} d${offText}`;
  return (raw) => {
    const trimmed = raw.trim().toLowerCase();
    if (off !== undefined && (trimmed === 'off' || trimmed === '0')) return undefined;
    const match = /^(\d+)(ms|s|m|h|d)$/.exec(trimmed);
    const value = match === null ? NaN : Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    if (!Number.isSafeInteger(value) || value < minMs || value > maxMs) throw new ValueProblem(expected);
    return value;
  };
}

/** A TCP port; min 0 where 0 means "off" or "any". */
export const port = (min = 0): Parser<number> => integer(min, 65535);

/** A decimal number from min to max, e.g. 0.5. */
export function decimal(min: number, max: number): Parser<number> {
  return (raw) => {
    const trimmed = raw.trim();
    const value = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : NaN;
    if (!(value >= min && value <= max)) throw new ValueProblem(`expected a number from ${min} to ${max}`);
    return value;
  };
}

/** One of a fixed list of words. */
export function oneOf<T extends string>(allowed: readonly T[], expected = `expected one of ${allowed.join(', ')}`): Parser<T> {
  return (raw) => {
    const trimmed = raw.trim();
    if (!(allowed as readonly string[]).includes(trimmed)) throw new ValueProblem(expected);
    return trimmed as T;
  };
}

export const BOOLEAN_WORDS = ['true', 'false', '1', '0'] as const;

/** true/false/1/0: the one spelling of a switch in every program. */
export const boolean: Parser<boolean> = (raw) => ['true', '1'].includes(oneOf(BOOLEAN_WORDS)(raw));

/** A URL with one of the given schemes ('http:', 'mqtt:' ...); example is shown when it is not a URL at all. */
export function url(schemes: readonly string[], example: string): Parser<string> {
  return (raw) => {
    const trimmed = raw.trim();
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      throw new ValueProblem(`expected a URL such as ${example}`);
    }
    if (!schemes.includes(parsed.protocol)) throw new ValueProblem(`expected a URL starting with ${schemes.map((scheme) => `${scheme}//`).join(', ')}`);
    return trimmed;
  };
}

/** Comma-separated items, trimmed, empty items dropped. */
export function list<T = string>(item: Parser<T> = text as Parser<T>): Parser<T[]> {
  return (raw) => raw.split(',').map((part) => part.trim()).filter((part) => part !== '').map(item);
}

/** A file or directory path (relative to the working directory); not checked for existence here. */
export const path: Parser<string> = (raw) => {
  const trimmed = raw.trim();
  if (trimmed.includes('\0')) throw new ValueProblem('expected a path');
  return trimmed;
};

/** An IP address or host name to listen on: no scheme, port or spaces. */
export function listenAddress(example = '127.0.0.1 or 0.0.0.0'): Parser<string> {
  return (raw) => {
    const trimmed = raw.trim();
    if (!/^[A-Za-z0-9.:_-]+$/.test(trimmed)) throw new ValueProblem(`expected an address to listen on, such as ${example}`);
    return trimmed;
  };
}

/** Text matching a rule, for names with a syntax of their own. */
export function matching(pattern: RegExp, expected: string): Parser<string> {
  return (raw) => {
    const trimmed = raw.trim();
    if (!pattern.test(trimmed)) throw new ValueProblem(expected);
    return trimmed;
  };
}
