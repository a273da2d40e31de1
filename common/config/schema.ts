/**
 * One declarative table of environment variables per program, from which the
 * program loads its settings, logs them (secrets redacted) and its table in
 * docs/configuration.md is generated (`npm run config-docs`).
 *
 * A variable is `{ name, parse, default, secret, doc }`. Parsers are pure
 * functions of the raw text (common/config/parsers.ts) that throw a
 * ValueProblem saying what is expected; read() turns that into a ConfigError
 * naming the variable and the value (never a secret's value), in the one-line
 * form every entry point prints before exiting 2:
 *
 *   MQTT_QOS="7": expected a whole number from 0 to 2
 *
 * Secrets may come as NAME_FILE, a path, as Docker secrets do.
 */
import { readFileSync } from 'node:fs';

export type Env = Readonly<Record<string, string | undefined>>;
export type ReadFile = (path: string) => Buffer;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The variable, or a path inside a configuration file. */
    readonly variable: string,
    /** Undefined for secrets, whose values are never shown. */
    readonly value: string | undefined,
    readonly expected: string,
  ) {
    super(`${variable}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${expected}`);
  }

  /** The same as variable; the notifier's settings may also be paths inside its YAML file. */
  get setting(): string {
    return this.variable;
  }
}

/** Thrown by parsers: what was expected. read() adds the variable's name and value. */
export class ValueProblem extends Error {
  override readonly name = 'ValueProblem';
  constructor(
    readonly expected: string,
    /** What to show instead of the raw value (e.g. a long value cut short). */
    readonly shown?: string,
  ) {
    super(expected);
  }
}

export type Parser<T> = (raw: string) => T;

export interface Variable<T, R = T | undefined> {
  readonly name: string;
  readonly parse: Parser<T>;
  /** The raw default, parsed like a value from the environment; absent: unset means undefined. */
  readonly default?: string;
  /** How the docs show the default when the raw default does not say it (e.g. "random"). */
  readonly defaultDoc?: string;
  /** Never echoed; may also be given as NAME_FILE. */
  readonly secret?: boolean;
  /** One line for the docs table (Markdown). */
  readonly doc: string;
  /** Phantom: what read() returns (T with a default, T | undefined without). */
  readonly __result?: R;
}

/** A variable with a default: read() always returns a value. */
export function required<T>(spec: Omit<Variable<T, T>, 'default' | '__result'> & { default: string }): Variable<T, T> {
  return spec;
}

/** A variable without a default: read() returns undefined when it is unset. */
export function optional<T>(spec: Omit<Variable<T, T | undefined>, 'default' | '__result'>): Variable<T, T | undefined> {
  return spec;
}

/** A program's table: what docs/configuration.md shows under its heading. */
export interface Schema {
  /** The heading, e.g. "ingestor (`npm run ingestor`)". */
  readonly program: string;
  readonly variables: readonly Variable<unknown, unknown>[];
}

const isUnset = (raw: string | undefined): raw is undefined => raw === undefined || raw.trim() === '';

function readNamedFile(readFile: ReadFile, variable: string, path: string): Buffer {
  try {
    return readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    // Docker bind-mounts a missing host file as an empty directory it creates.
    if (code === 'EISDIR') throw new ConfigError(variable, path, 'expected a file, found a directory (EISDIR; a container gets one where a bind-mounted host file does not exist)');
    throw new ConfigError(variable, path, `cannot read the file (${code})`);
  }
}

/** Reads a file a setting names (a certificate, a routes file), failing with the setting's name. */
export function readSettingFile(variable: string, path: string, readFile: ReadFile = readFileSync): Buffer {
  return readNamedFile(readFile, variable, path);
}

function parseAs<T>(variable: Variable<T, unknown>, shownName: string, raw: string, shownValue: string | undefined): T {
  try {
    return variable.parse(raw);
  } catch (error) {
    if (error instanceof ValueProblem) throw new ConfigError(shownName, error.shown ?? shownValue, error.expected);
    throw error;
  }
}

/**
 * The variable's value: from the environment, from NAME_FILE for a secret,
 * else its default. A blank value counts as unset (compose passes empty
 * variables on).
 */
export function read<T, R>(env: Env, variable: Variable<T, R>, readFile: ReadFile = readFileSync): R {
  const { name } = variable;
  const direct = env[name];
  if (variable.secret === true) {
    const file = env[`${name}_FILE`];
    if (!isUnset(direct) && !isUnset(file)) {
      throw new ConfigError(`${name}_FILE`, file.trim(), `expected either ${name} or ${name}_FILE, not both`);
    }
    if (!isUnset(file)) {
      const path = file.trim();
      const content = readNamedFile(readFile, `${name}_FILE`, path).toString('utf8').replace(/\r?\n$/, '');
      return parseAs(variable, `${name}_FILE`, content, path) as unknown as R;
    }
  }
  if (!isUnset(direct)) return parseAs(variable, name, direct, variable.secret === true ? undefined : direct.trim()) as unknown as R;
  return (variable.default === undefined ? undefined : parseAs(variable, name, variable.default, variable.default)) as R;
}

/** Whether the variable (or, for a secret, NAME_FILE) is set to something. */
export function isSet(env: Env, variable: Variable<unknown, unknown>): boolean {
  return !isUnset(env[variable.name]) || (variable.secret === true && !isUnset(env[`${variable.name}_FILE`]));
}

/** Every name a schema reads, NAME_FILE forms included. */
export function variableNames(schema: Schema): string[] {
  return schema.variables.flatMap((variable) => (variable.secret === true ? [variable.name, `${variable.name}_FILE`] : [variable.name]));
}

/** The secrets a schema reads (what SENSORFLOW_ENV=production checks for development defaults). */
export function secretNames(schema: Schema): string[] {
  return schema.variables.filter((variable) => variable.secret === true).map((variable) => variable.name);
}

/**
 * The environment as a schema sees it, safe to log: each variable that is set,
 * secrets reduced to "(set)", passwords inside URLs hidden.
 */
export function describeEnv(schema: Schema, env: Env): Record<string, string> {
  const described: Record<string, string> = {};
  for (const variable of schema.variables) {
    if (!isSet(env, variable)) continue;
    described[variable.name] = variable.secret === true ? '(set)' : withoutUrlPassword((env[variable.name] ?? '').trim());
  }
  return described;
}

/** A URL may carry `user:password@`: the password is a secret wherever it appears. */
function withoutUrlPassword(value: string): string {
  if (!value.includes('@')) return value;
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}
