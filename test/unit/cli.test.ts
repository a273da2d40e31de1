/**
 * common/cli.ts: --help, --version and unknown flags, the same for every
 * program (test/integration/cli.test.ts runs each program for real).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { helpText, interpret, packageVersion, type Command } from '../../common/cli.ts';
import { plainText } from '../../common/config/docs.ts';
import { verbatim } from '../../common/config/parsers.ts';
import { optional, required } from '../../common/config/schema.ts';

const command: Command = {
  name: 'demo',
  usage: 'Usage: demo [--test [bot]] [--count N] [--quiet]\n\nFlags\n  --test [bot]   …\n',
  flags: { test: 'optional-value', count: 'value', quiet: 'switch' },
  schemas: [
    {
      program: 'demo (`npm run demo`)',
      variables: [
        required({ name: 'DEMO_URL', parse: verbatim, default: 'mqtt://localhost:1883', doc: 'the `broker` URL, see [delivery](docs/delivery.md)' }),
        optional({ name: 'DEMO_PASSWORD', parse: verbatim, secret: true, doc: 'a **password**' }),
      ],
    },
  ],
};

const run = (...argv: string[]) => interpret(argv, command, '9.8.7');

describe('interpret', () => {
  test('no arguments: run, no flags', () => {
    assert.deepEqual(run(), { kind: 'run', flags: {} });
  });

  test('--help and -h: the usage, the common flags and every variable with its default, on stdout, exit 0', () => {
    for (const flag of ['--help', '-h']) {
      const result = run(flag);
      assert.equal(result.kind, 'exit');
      assert.ok(result.kind === 'exit');
      assert.equal(result.code, 0);
      assert.equal(result.stream, 'stdout');
      assert.equal(result.text, helpText(command));
    }
    const text = helpText(command);
    assert.ok(text.startsWith(command.usage), text);
    assert.match(text, /^ {2}--help, -h +this text$/m);
    assert.match(text, /^ {2}--version +the version$/m);
    assert.match(text, /^demo \(npm run demo\):$/m);
    assert.match(text, /^ {2}DEMO_URL {3}default: mqtt:\/\/localhost:1883\n {6}the broker URL, see delivery$/m);
    assert.match(text, /^ {2}DEMO_PASSWORD \(or DEMO_PASSWORD_FILE\)\n {6}a password; secret: never logged$/m);
  });

  test('--version: the program and the version, on stdout, exit 0', () => {
    assert.deepEqual(run('--version'), { kind: 'exit', code: 0, stream: 'stdout', text: 'sensorflow demo 9.8.7\n' });
  });

  test('an unknown flag: exit 2, one line on stderr naming it', () => {
    for (const [argv, named] of [[['--bogus'], '--bogus'], [['--count', '3', '--bogus=1'], '--bogus'], [['-x'], '-x'], [['--Quiet'], '--Quiet']] as const) {
      const result = interpret(argv, command, '1');
      assert.deepEqual(result, { kind: 'exit', code: 2, stream: 'stderr', text: `demo: unknown flag ${named}; --help lists the flags and variables\n` }, argv.join(' '));
    }
  });

  test('the first of --help, --version and a bad argument decides', () => {
    const bogusFirst = run('--bogus', '--help');
    assert.ok(bogusFirst.kind === 'exit' && bogusFirst.code === 2);
    const helpFirst = run('--help', '--bogus');
    assert.ok(helpFirst.kind === 'exit' && helpFirst.code === 0);
    const version = run('--version', '--help');
    assert.ok(version.kind === 'exit' && version.text.startsWith('sensorflow demo'));
  });

  test('arguments that are no flag, and flags misused, are refused naming them', () => {
    const refused = (argv: string[]): string => {
      const result = interpret(argv, command, '1');
      assert.ok(result.kind === 'exit' && result.code === 2, argv.join(' '));
      return result.text;
    };
    assert.equal(refused(['extra']), 'demo: unexpected argument "extra"; --help lists the flags and variables\n');
    assert.equal(refused(['--']), 'demo: unexpected argument "--"; --help lists the flags and variables\n');
    assert.equal(refused(['--count']), 'demo: --count needs a value; --help lists the flags and variables\n');
    assert.equal(refused(['--quiet=yes']), 'demo: --quiet takes no value; --help lists the flags and variables\n');
    // No program takes a bare argument: the value of a switch is no exception.
    assert.equal(refused(['--quiet', 'loud']), 'demo: unexpected argument "loud"; --help lists the flags and variables\n');
  });

  test('declared flags: values, switches, optional values', () => {
    assert.deepEqual(run('--count', '3', '--quiet'), { kind: 'run', flags: { count: '3', quiet: true } });
    assert.deepEqual(run('--count=3'), { kind: 'run', flags: { count: '3' } });
    assert.deepEqual(run('--count', '-1'), { kind: 'run', flags: { count: '-1' } });
    assert.deepEqual(run('--test'), { kind: 'run', flags: { test: true } });
    assert.deepEqual(run('--test', 'oncall'), { kind: 'run', flags: { test: 'oncall' } });
    assert.deepEqual(run('--test', '--quiet'), { kind: 'run', flags: { test: true, quiet: true } });
    assert.deepEqual(run('--test='), { kind: 'run', flags: { test: '' } });
  });

  test('a name inherited from Object.prototype is no flag', () => {
    const result = run('--constructor');
    assert.ok(result.kind === 'exit' && result.code === 2 && result.text.includes('unknown flag --constructor'));
  });
});

describe('packageVersion', () => {
  test('this package.json\'s version, from the source folder', () => {
    const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    assert.equal(packageVersion(), manifest.version);
  });

  test('the nearest sensorflow package.json above, as from dist/common/ in the image', () => {
    const root = mkdtempSync(join(tmpdir(), 'sensorflow-cli-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'sensorflow', version: '4.5.6' }));
    mkdirSync(join(root, 'dist', 'common'), { recursive: true });
    // A package.json of another package on the way up is not ours.
    writeFileSync(join(root, 'dist', 'package.json'), JSON.stringify({ name: 'other', version: '0.0.1' }));
    assert.equal(packageVersion(join(root, 'dist', 'common')), '4.5.6');
  });
});

test('plainText: Markdown as a terminal shows it', () => {
  assert.equal(plainText('`a` **b** [c](d) e \\| f'), 'a b c e | f');
});
