/**
 * The configuration schemas (common/config and each program's settings.ts): the shared
 * parsers, reading with NAME_FILE and without echoing secrets, the generated
 * tables of docs/configuration.md, and that every variable the code reads is
 * in a schema and in the documentation (README.md and docs/*.md).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderBlocks, renderTable, StaleDocsError } from '../../common/config/docs.ts';
import { boolean, decimal, integer, list, listenAddress, oneOf, url } from '../../common/config/parsers.ts';
import { ConfigError, describeEnv, optional, read, required, ValueProblem, variableNames, type Schema } from '../../common/config/schema.ts';
import { loadBrokerConfig } from '../../broker/dev/settings.ts';
import { CONFIGURATION_PAGE, renderConfigurationPage, SCHEMAS } from '../../scripts/config-docs.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const noFiles = (path: string): Buffer => {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};

function problem(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof ValueProblem, String(error));
    return error.expected;
  }
  assert.fail('expected a ValueProblem');
}

function configError(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

describe('shared parsers', () => {
  test('integer: whole numbers in range, trimmed; anything else says the range', () => {
    assert.equal(integer(0, 10)(' 7 '), 7);
    for (const bad of ['-1', '11', '1.5', '1e3', 'seven', '0x10', '']) assert.equal(problem(() => integer(0, 10)(bad)), 'expected a whole number from 0 to 10', bad);
  });

  test('boolean: true/false/1/0 and nothing else', () => {
    assert.deepEqual(['true', 'false', '1', '0', ' true '].map(boolean), [true, false, true, false, true]);
    for (const bad of ['yes', 'on', 'TRUE', '']) assert.equal(problem(() => boolean(bad)), 'expected one of true, false, 1, 0', bad);
  });

  test('oneOf, decimal, list, listenAddress', () => {
    assert.equal(oneOf(['a', 'b'] as const)(' b'), 'b');
    assert.equal(problem(() => oneOf(['a', 'b'] as const)('c')), 'expected one of a, b');
    assert.equal(decimal(0, 10)('0.5'), 0.5);
    assert.equal(problem(() => decimal(0, 10)('lots')), 'expected a number from 0 to 10');
    assert.deepEqual(list()(' a, b,,c '), ['a', 'b', 'c']);
    assert.equal(listenAddress()('0.0.0.0'), '0.0.0.0');
    assert.match(problem(() => listenAddress()('http://x')), /^expected an address to listen on/);
  });

  test('url: a URL with an allowed scheme', () => {
    const parse = url(['http:', 'https:'], 'http://localhost:8086');
    assert.equal(parse('https://db:8086'), 'https://db:8086');
    assert.equal(problem(() => parse('localhost:8086')), 'expected a URL starting with http://, https://');
    assert.equal(problem(() => parse('not a url')), 'expected a URL such as http://localhost:8086');
  });
});

describe('read', () => {
  const port = required({ name: 'SOME_PORT', parse: integer(0, 65535), default: '80', doc: 'a port' });
  const password = optional({ name: 'SOME_PASSWORD', parse: (raw: string) => {
    if (raw.length < 4) throw new ValueProblem('expected at least 4 characters');
    return raw;
  }, secret: true, doc: 'a secret' });

  test('the default when unset or blank; the value otherwise', () => {
    assert.equal(read({}, port), 80);
    assert.equal(read({ SOME_PORT: '  ' }, port), 80, 'compose passes empty variables on');
    assert.equal(read({ SOME_PORT: '8080' }, port), 8080);
    assert.equal(read({}, password, noFiles), undefined);
  });

  test('a bad value names the variable, the value and what is expected, in one line', () => {
    assert.equal(configError(() => read({ SOME_PORT: ' 99999 ' }, port)), 'SOME_PORT="99999": expected a whole number from 0 to 65535');
  });

  test('a secret: from NAME or NAME_FILE (one trailing newline dropped), never echoed', () => {
    assert.equal(read({ SOME_PASSWORD: 'hunter22' }, password, noFiles), 'hunter22');
    assert.equal(read({ SOME_PASSWORD_FILE: '/run/secrets/p' }, password, () => Buffer.from('from-file\n')), 'from-file');
    const direct = configError(() => read({ SOME_PASSWORD: 'abc' }, password, noFiles));
    assert.equal(direct, 'SOME_PASSWORD: expected at least 4 characters');
    const fromFile = configError(() => read({ SOME_PASSWORD_FILE: '/p' }, password, () => Buffer.from('abc')));
    assert.equal(fromFile, 'SOME_PASSWORD_FILE="/p": expected at least 4 characters', 'the path is shown, not the content');
    assert.equal(configError(() => read({ SOME_PASSWORD_FILE: '/nope' }, password, noFiles)), 'SOME_PASSWORD_FILE="/nope": cannot read the file (ENOENT)');
    assert.equal(configError(() => read({ SOME_PASSWORD: 'abcd', SOME_PASSWORD_FILE: '/p' }, password, noFiles)), 'SOME_PASSWORD_FILE="/p": expected either SOME_PASSWORD or SOME_PASSWORD_FILE, not both');
  });

  test('describeEnv shows what is set, secrets only as set', () => {
    const schema: Schema = { program: 'p', variables: [port, password] };
    assert.deepEqual(describeEnv(schema, { SOME_PORT: '81', SOME_PASSWORD: 'hunter22', OTHER: 'x' }), { SOME_PORT: '81', SOME_PASSWORD: '(set)' });
    const withUrl: Schema = { program: 'p', variables: [optional({ name: 'SOME_URL', parse: String, doc: 'a URL' })] };
    assert.deepEqual(describeEnv(withUrl, { SOME_URL: 'mqtt://user:pw-secret@broker:1883' }), { SOME_URL: 'mqtt://user:***@broker:1883' });
    assert.deepEqual(variableNames(schema), ['SOME_PORT', 'SOME_PASSWORD', 'SOME_PASSWORD_FILE']);
  });
});

describe('the schemas', () => {
  for (const [block, schema] of Object.entries(SCHEMAS)) {
    test(`${block}: unique names, every default valid, a doc for each`, () => {
      const names = schema.variables.map((variable) => variable.name);
      assert.equal(new Set(names).size, names.length, names.join());
      for (const variable of schema.variables) {
        assert.match(variable.name, /^[A-Z][A-Z0-9_]*$/);
        assert.ok(variable.doc.trim() !== '', variable.name);
        if (variable.default !== undefined) assert.doesNotThrow(() => variable.parse(variable.default!), variable.name);
        assert.ok(!(variable.secret === true && variable.default !== undefined && variable.defaultDoc === undefined), `${variable.name}: a secret's default is not printed`);
      }
    });
  }

  test('a variable two programs share is parsed the same way with the same default in both', () => {
    // Where a program accepts less on purpose.
    const narrower: Record<string, string> = { INFLUX_API: 'setup provisions InfluxDB 2 or 1.x only; v3 has no setup here' };
    const byName = new Map<string, { parse: unknown; doc: string; default?: string }>();
    for (const schema of Object.values(SCHEMAS)) {
      for (const variable of schema.variables) {
        const seen = byName.get(variable.name);
        if (seen === undefined) {
          byName.set(variable.name, variable);
          continue;
        }
        assert.ok(variable.parse === seen.parse || variable.name in narrower, `${variable.name}: two parsers`);
        assert.equal(variable.default, seen.default, `${variable.name}: two defaults`);
      }
    }
  });
});

describe('the development broker', () => {
  test('defaults, and a bad value named like everywhere else', () => {
    assert.deepEqual(loadBrokerConfig({}), { host: '127.0.0.1', port: 1883, node: 'sensorflow-dev@127.0.0.1', usersFile: 'broker/dev/users.yaml', logLevel: 'info' });
    assert.equal(configError(() => loadBrokerConfig({ BROKER_PORT: 'x' })), 'BROKER_PORT="x": expected a whole number from 0 to 65535');
    assert.match(configError(() => loadBrokerConfig({ BROKER_NODE: 'a/b' })), /^BROKER_NODE="a\/b": expected a node name without "\/"/);
  });
});

describe('the documentation', () => {
  const page = readFileSync(CONFIGURATION_PAGE, 'utf8');
  // Every page counts: a variable may be explained where its subject is.
  const docs = [join(ROOT, 'README.md'), ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join(ROOT, 'docs', name))]
    .map((file) => readFileSync(file, 'utf8')).join('\n');

  test('docs/configuration.md\'s tables are what the schemas generate (run npm run config-docs)', () => {
    assert.equal(renderConfigurationPage(page), page, 'docs/configuration.md is stale: run npm run config-docs');
  });

  test('a generated table is one block of rows, secrets named with their _FILE form, | escaped', () => {
    const table = renderTable({ program: 'p', variables: [
      required({ name: 'A', parse: String, default: 'x', doc: 'one | two' }),
      optional({ name: 'B', parse: String, secret: true, doc: 'secret' }),
    ] });
    assert.equal(table, [
      '| variable | default | meaning |', '|---|---|---|',
      '| `A` | `x` | one \\| two |',
      '| `B` (or `B_FILE`) | – | secret; secret: never logged |',
    ].join('\n'));
    assert.throws(() => renderBlocks('no markers', { x: { program: 'p', variables: [] } }), StaleDocsError);
  });

  test('every variable the code reads is in a schema and in the documentation', () => {
    const inSchemas = new Set(Object.values(SCHEMAS).flatMap(variableNames));
    // Not configuration: the process environment itself.
    const system = new Set(['PATH', 'HOME', 'NODE_ENV']);
    const read: { name: string; file: string }[] = [];
    const patterns = [
      /\benv\.([A-Z][A-Z0-9_]+)/g,
      /\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g,
      /\(\s*(?:process\.)?env\s*,\s*['"]([A-Z][A-Z0-9_]+)['"]/g,
    ];
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (name === 'node_modules') return [];
      return statSync(path).isDirectory() ? walk(path) : /\.ts$/.test(name) ? [path] : [];
    });
    for (const top of ['ingestor', 'notifier', 'simulator', 'broker', 'influxdb', 'scripts', 'common']) {
      for (const file of walk(join(ROOT, top))) {
        const code = readFileSync(file, 'utf8');
        for (const pattern of patterns) for (const match of code.matchAll(pattern)) read.push({ name: match[1]!, file: file.slice(ROOT.length + 1) });
      }
    }
    // The patterns themselves, on one sample of each way of reading (a count of
    // reads found would break whenever code moves to read(env, SCHEMA.X)).
    const sample = "env.ONE; env['TWO']; env[\"THREE\"]; x(process.env, 'FOUR'); y(env, \"FIVE\")";
    assert.deepEqual(patterns.flatMap((pattern) => [...sample.matchAll(pattern)].map((m) => m[1])).sort(), ['FIVE', 'FOUR', 'ONE', 'THREE', 'TWO']);
    assert.ok(read.length > 0, 'no reads found in the code: the walk is broken');
    for (const { name, file } of read) {
      if (system.has(name)) continue;
      assert.ok(inSchemas.has(name), `${file} reads ${name}, which no schema lists (add it to that program's settings.ts)`);
      assert.ok(docs.includes(`\`${name}\``) || docs.includes(`\`${name.replace(/_FILE$/, '')}\` (or \`${name}\`)`), `${name} (${file}) is not in README.md or docs/`);
    }
    for (const name of inSchemas) assert.ok(page.includes(`\`${name}\``), `${name} is in a schema but not in docs/configuration.md`);
  });
});
