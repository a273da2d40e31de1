/**
 * The command line every sensorflow program shares. `--help` (`-h`) prints the
 * program's usage and its environment variables (from its settings tables),
 * `--version` the package version, and any flag the program does not declare
 * is refused: exit 2, one line naming it. Each entry point calls
 * commandLine() first, before it reads a file or opens a connection, so
 * `--help` never starts a service.
 *
 *   node dist/ingestor/main.js --help
 *   node dist/ingestor/main.js --bogus   → "ingestor: unknown flag --bogus; --help lists …", exit 2
 *
 * interpret() is pure (arguments in, decision out); commandLine() prints and exits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderPlainList } from './config/docs.ts';
import type { Schema } from './config/schema.ts';

/** `value`: `--name V` or `--name=V`; `optional-value`: the next argument only when it is no flag; `switch`: no value. */
export type FlagKind = 'value' | 'optional-value' | 'switch';

export interface Command {
  /** How the program names itself in its messages, e.g. `ingestor`. */
  readonly name: string;
  /** The usage text: how to run it, what it does, and the flags it takes besides --help and --version. */
  readonly usage: string;
  /** The flags it takes besides --help and --version, by name without the dashes. */
  readonly flags?: Readonly<Record<string, FlagKind>>;
  /** Its settings tables: every variable it reads, listed by --help. */
  readonly schemas: readonly Schema[];
}

/** The flags given, by name: a value, or true for a switch or an optional value left out. */
export type Flags = Readonly<Record<string, string | true>>;

export type Invocation =
  | { readonly kind: 'run'; readonly flags: Flags }
  | { readonly kind: 'exit'; readonly code: 0 | 2; readonly stream: 'stdout' | 'stderr'; readonly text: string };

const HELP_HINT = '--help lists the flags and variables';

/** Pure: what the arguments ask for. The first of --help, --version or a bad argument decides. */
export function interpret(argv: readonly string[], command: Command, version: string): Invocation {
  const known = command.flags ?? {};
  const flags: Record<string, string | true> = {};
  const refuse = (problem: string): Invocation => ({ kind: 'exit', code: 2, stream: 'stderr', text: `${command.name}: ${problem}; ${HELP_HINT}\n` });
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    if (arg === '--help' || arg === '-h') return { kind: 'exit', code: 0, stream: 'stdout', text: helpText(command) };
    if (arg === '--version') return { kind: 'exit', code: 0, stream: 'stdout', text: `sensorflow ${command.name} ${version}\n` };
    if (!arg.startsWith('-') || arg === '-' || arg === '--') return refuse(`unexpected argument ${JSON.stringify(arg)}`);
    const equals = arg.indexOf('=');
    const flag = equals < 0 ? arg : arg.slice(0, equals);
    const name = flag.startsWith('--') ? flag.slice(2) : undefined;
    const kind = name === undefined || !Object.hasOwn(known, name) ? undefined : known[name];
    if (name === undefined || kind === undefined) return refuse(`unknown flag ${flag}`);
    if (equals >= 0) {
      if (kind === 'switch') return refuse(`${flag} takes no value`);
      flags[name] = arg.slice(equals + 1);
      continue;
    }
    const next = argv[index + 1];
    if (kind === 'switch' || (kind === 'optional-value' && (next === undefined || next.startsWith('-')))) {
      flags[name] = true;
    } else if (next === undefined) {
      return refuse(`${flag} needs a value`);
    } else {
      flags[name] = next;
      index += 1;
    }
  }
  return { kind: 'run', flags };
}

/** The usage, then each settings table as a plain list. */
export function helpText(command: Command): string {
  const usage = command.usage.endsWith('\n') ? command.usage : `${command.usage}\n`;
  const common = '  --help, -h             this text\n  --version              the version\n';
  const tables = command.schemas.map((schema) => renderPlainList(schema)).join('\n');
  return `${usage}${common}\nEnvironment variables (a secret NAME may also be given as NAME_FILE, a path):\n\n${tables}`;
}

/** The version in the package.json above this module (source: ../, built: ../../). */
export function packageVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'sensorflow' && typeof manifest.version === 'string') return manifest.version;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** Answers --help / --version / a bad argument (prints, exits); otherwise returns the flags given. */
export function commandLine(command: Command, argv: readonly string[] = process.argv.slice(2)): Flags {
  const invocation = interpret(argv, command, packageVersion());
  if (invocation.kind === 'run') return invocation.flags;
  (invocation.stream === 'stdout' ? process.stdout : process.stderr).write(invocation.text);
  process.exit(invocation.code);
}
