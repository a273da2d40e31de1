/**
 * The documentation says only what the repository backs (issue 20):
 * - every relative link and anchor in README.md and docs/*.md resolves (anchors
 *   as GitHub makes them, github-slugger);
 * - every environment variable the docs name is one a program, compose or
 *   Grafana's provisioning reads, and every schema variable is documented;
 * - every `npm run <script>` the docs or the code name is in package.json;
 * - every repository path the docs or code comments name exists.
 * Each failure is one line: file:line, the reference, what is wrong.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import { variableNames } from '../../common/config/schema.ts';
import { SCHEMAS } from '../../scripts/config-docs.ts';
import { headings, lineAt, links } from '../harness/markdown.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

/** README.md and every page under docs/, as paths from the repository root. */
const DOC_FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];

/** The repository's own files (no dependencies, build output, runtime data or git). */
function repoFiles(dir = ''): string[] {
  const skip = new Set(['node_modules', '.git', 'dist', 'data', '.test-artifacts', 'certs', 'secrets']);
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) return skip.has(entry.name) ? [] : repoFiles(path);
    return [path];
  });
}

/** The problems, one per line, or nothing; the message lists them all. */
function expectNone(problems: readonly string[], what: string): void {
  assert.deepEqual(problems, [], `${problems.length} ${what}:\n${problems.join('\n')}`);
}

/** Occurrences of a pattern in a text, each with its line. */
function* matches(text: string, pattern: RegExp): Generator<{ line: number; index: number; match: RegExpMatchArray }> {
  for (const match of text.matchAll(pattern)) yield { line: lineAt(text, match.index), index: match.index, match };
}

describe('links and anchors in README.md and docs/', () => {
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (file: string): Set<string> => {
    let anchors = anchorCache.get(file);
    if (anchors === undefined) {
      anchors = new Set(headings(readFileSync(file, 'utf8')).map((heading) => heading.anchor));
      anchorCache.set(file, anchors);
    }
    return anchors;
  };

  test('every relative link names a file in the repository, and every #anchor a heading of that page', () => {
    const problems: string[] = [];
    for (const file of DOC_FILES) {
      for (const { line, target } of links(read(file))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const hash = target.indexOf('#');
        const path = hash < 0 ? target : target.slice(0, hash);
        const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
        const absolute = path === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), path);
        const where = `${file}:${line}: link (${target})`;
        if (absolute !== ROOT && !absolute.startsWith(ROOT + sep)) {
          problems.push(`${where}: points outside the repository`);
        } else if (!existsSync(absolute)) {
          problems.push(`${where}: ${relative(ROOT, absolute)} does not exist`);
        } else if (anchor !== undefined) {
          if (!absolute.endsWith('.md')) problems.push(`${where}: an anchor into a file that is not Markdown`);
          else if (!anchorsOf(absolute).has(anchor)) {
            problems.push(`${where}: ${relative(ROOT, absolute)} has no heading whose anchor is #${anchor}`);
          }
        }
      }
    }
    expectNone(problems, 'broken links');
  });

  test('anchors are made as GitHub makes them', () => {
    assert.deepEqual(headings('# Sizing `WAL_MAX_BYTES`\n```\n# not a heading\n```\n## Delivery: what is durable\n## Delivery: what is durable\n### MQTT over TLS (mqtts://)\n#### `npm run setup`').map((heading) => heading.anchor),
      ['sizing-wal_max_bytes', 'delivery-what-is-durable', 'delivery-what-is-durable-1', 'mqtt-over-tls-mqtts', 'npm-run-setup']);
    assert.deepEqual(links('see [a\nb](x.md#y) and `[c](not-a-link)`\n```\n[d](in-code)\n```\n![e](img.png)'), [
      { line: 1, target: 'x.md#y' }, { line: 6, target: 'img.png' },
    ]);
  });
});

/** Upper-case names with an underscore, as variables are written; single words (`DEBUG`, `SPARKPLUG`) are left out: too many are not variables. */
const VARIABLE = /(?<![\w$-])\$?\{?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g;

/**
 * Names that look like variables and are someone else's, or no variable at
 * all, with the reason. Each must still occur in the docs (a stale entry fails).
 */
const NOT_OURS: Readonly<Record<string, string>> = {
  NAME_FILE: 'the pattern "any secret as NAME_FILE", not a variable',
  NODE_EXTRA_CA_CERTS: "Node's own variable for extra CAs",
  INFLUXD_TLS_CERT: "influxd's own (InfluxDB 2 server settings)",
  INFLUXD_TLS_KEY: "influxd's own (InfluxDB 2 server settings)",
  DINGTALK_PRODUCTION_URL: 'an example name a NOTIFIER_CONFIG file points at with url_env',
  DINGTALK_PRODUCTION_SECRET: 'an example name a NOTIFIER_CONFIG file points at with secret_env',
  DINGTALK_ONCALL_URL: 'an example name a NOTIFIER_CONFIG file points at with url_env',
  DINGTALK_ONCALL_SECRET: 'an example name a NOTIFIER_CONFIG file points at with secret_env',
};

/** Families of names that are codes, not variables, quoted in error lines and upstream citations. */
const NOT_VARIABLES: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  { pattern: /^ERR_/, why: 'Node.js error codes (ERR_TLS_CERT_ALTNAME_INVALID, ERR_SSL_…)' },
  { pattern: /^(CERT|UNABLE_TO|SELF_SIGNED|DEPTH_ZERO)_/, why: "OpenSSL's certificate verification errors (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE)" },
  { pattern: /^RC_/, why: "MQTT 5 reason codes as EMQX's source names them (RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED)" },
];

describe('environment variables in the docs', () => {
  const schemaNames = new Set(Object.values(SCHEMAS).flatMap(variableNames));
  /** What compose, the image and Grafana's provisioning read: `.env` is their contract. */
  const stackFiles = ['.env', 'docker-compose.yml', 'docker-compose.tls.yml', 'docker-compose.influx-tls.yml', 'scripts/make-certs.sh', 'Dockerfile',
    ...repoFiles('grafana/provisioning'), ...repoFiles('grafana/direct'), ...repoFiles('broker/emqx').filter((file) => !file.endsWith('.ts'))];
  const stackText = stackFiles.map(read).join('\n');
  const inStack = (name: string): boolean => new RegExp(`(?<![A-Z0-9_])${name}(?![A-Z0-9_])`).test(stackText);
  const code = repoFiles().filter((file) => /\.ts$/.test(file)).map((file) => ({ file, text: read(file) }));
  /** Variables only a test or the benchmark reads (`SCALE_SEED`): real, and named where they matter. */
  const readByTests = new Set(code.filter(({ file }) => /^(test|bench)\//.test(file))
    .flatMap(({ text }) => [...text.matchAll(/\benv(?:\.|\[['"])([A-Z][A-Z0-9_]+)/g)].map((match) => match[1]!)));
  /** Constants of the code the docs name beside their file (`HEADERS_TIMEOUT_MS`): not variables at all. */
  const constants = new Set(code.flatMap(({ text }) => [...text.matchAll(/\bconst ([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*[=:]/g)].map((match) => match[1]!)));

  test('every variable the docs name is read by a program (its settings.ts), by compose or Grafana\'s provisioning, or by a test', () => {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const file of DOC_FILES) {
      for (const { line, match } of matches(read(file), VARIABLE)) {
        const name = match[1]!;
        seen.add(name);
        if (schemaNames.has(name) || schemaNames.has(name.replace(/_FILE$/, '')) || inStack(name) || readByTests.has(name) || constants.has(name) || name in NOT_OURS) continue;
        if (NOT_VARIABLES.some(({ pattern }) => pattern.test(name))) continue;
        problems.push(`${file}:${line}: ${name}: no settings schema (*/settings.ts), .env, compose file, Grafana provisioning file or test reads it, and no code defines it as a constant`);
      }
    }
    for (const name of Object.keys(NOT_OURS)) {
      if (!seen.has(name)) problems.push(`test/unit/docs.test.ts: NOT_OURS lists ${name}, which no page names any more: remove it`);
    }
    expectNone(problems, 'unknown variables');
  });

  test('every variable of every schema is documented', () => {
    const docs = DOC_FILES.map(read).join('\n');
    const problems = [...schemaNames].filter((name) => !docs.includes(`\`${name}\``))
      .map((name) => `${name}: in a settings schema but on no page (run npm run config-docs)`);
    expectNone(problems, 'undocumented variables');
  });
});

/** Where `npm run …` may be named: the docs, code, scripts, the compose files. */
const CODE_FILE = /\.(ts|js|sh|ya?ml|hocon|conf)$|(^|\/)(Dockerfile|\.env|acl)$/;

describe('npm scripts', () => {
  const scripts = new Set(Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts));

  test('every `npm run <script>` in the docs and the code is in package.json', () => {
    const problems: string[] = [];
    // Code counts whole (its messages tell users what to run); a test only in its comments (its strings are fixtures, such as a made-up program).
    const sources = [
      ...DOC_FILES.map((file) => ({ file, text: read(file) })),
      ...repoFiles().filter((file) => CODE_FILE.test(file) && !file.startsWith('docs/'))
        .map((file) => ({ file, text: file.startsWith('test/') ? comments(file, read(file)) : read(file) })),
    ];
    for (const { file, text } of sources) {
      for (const { line, match } of matches(text, /\bnpm run(?:\s+-{1,2}[a-z][\w-]*)*\s+([a-z][\w:.-]*)/g)) {
        const script = match[1]!.replace(/[.:]+$/, '');
        if (!scripts.has(script)) problems.push(`${file}:${line}: npm run ${script}: package.json has no such script (it has ${[...scripts].join(', ')})`);
      }
    }
    expectNone(problems, 'unknown npm scripts');
  });
});

/** The repository's top-level folders a path may start with; paths elsewhere (`pkg/…` of Grafana, `apps/emqx/…`) are upstream source. */
const TOP_LEVEL = ['ingestor', 'notifier', 'simulator', 'grafana', 'influxdb', 'broker', 'common', 'scripts', 'test', 'bench', 'docs'];
const PATH = new RegExp(`(?<![\\w.@/~$-])((?:${TOP_LEVEL.join('|')})/[^\\s\`'"()\\[\\]{},;|]*)`, 'g');

/**
 * Path-like words that are not paths of this repository, with the reason.
 * Each must still occur somewhere (a stale entry fails).
 */
const NOT_REPO_PATHS: Readonly<Record<string, string>> = {
  'grafana/grafana': "Grafana's GitHub repository, where upstream source is cited",
  'grafana/alerting': "Grafana's alerting library (its receivers' settings), cited as a source",
  'bench/results/DATE.json': "a placeholder for a result file of the reader's run",
  'bench/results/quick/': 'where `npm run bench -- --quick` writes; git-ignored, made by the run',
  'broker/mosquitto/passwd': 'the password file the reader creates with mosquitto_passwd (the comment says how)',
};

/** A path right after one of these (`grafana/grafana docs/sources/…`) is in that upstream repository. */
const UPSTREAM_REPOSITORY = /(?:grafana\/grafana|emqx\/emqx|influxdata\/influxdb|influxdata\/influxdata-docker|influxdata\/influx-cli|influxdata\/telegraf|vectordotdev\/vector)[\s*#`]+$/; // a comment may break the line between them; Markdown may quote the path

/** The comments of a code file: what a reader takes as documentation. */
function comments(file: string, text: string): string {
  // Blank everything that is not a comment, keeping offsets (so lines stay right).
  const keep = (pattern: RegExp): string => {
    const out = text.replace(/[^\n]/g, ' ').split('');
    for (const match of text.matchAll(pattern)) for (let i = 0; i < match[0].length; i += 1) out[match.index + i] = match[0][i]!;
    return out.join('');
  };
  if (/\.(ts|js)$/.test(file)) return keep(/\/\*[\s\S]*?\*\/|(?<![:'"`\\/])\/\/[^\n]*/g);
  return keep(/(?<=^|\s)#[^\n]*|^%%[^\n]*/gm);
}

/** The repository paths a text names, placeholders (`queue/<bot>/`) and upstream citations left out; `#anchor` and a sentence's full stop cut off. */
function namedPaths(text: string): { line: number; path: string }[] {
  const found: { line: number; path: string }[] = [];
  for (const { line, index, match } of matches(text, PATH)) {
    const path = match[1]!.replace(/#.*$/, '').replace(/[.:]+$/, '');
    if (UPSTREAM_REPOSITORY.test(text.slice(Math.max(0, index - 40), index))) continue;
    if (/[<>…$]/.test(path)) continue;
    found.push({ line, path });
  }
  return found;
}

describe('repository paths in the docs and code comments', () => {
  test('what counts as a path: comments only in code, no placeholders, no upstream source', () => {
    const [open, close] = ['/' + '*', '*' + '/']; // written apart, so that this file's own comments do not hold the sample
    const code = ['// see ingestor/main.ts.', "const where = 'ingestor/not-a-comment.ts';", `${open} grafana/grafana`, ` * docs/sources/x.md, and bench/results/<date>.json ${close}`].join('\n');
    // The repository's own name is a path-like word: NOT_REPO_PATHS says it is upstream.
    assert.deepEqual(namedPaths(comments('x.ts', code)), [{ line: 1, path: 'ingestor/main.ts' }, { line: 3, path: 'grafana/grafana' }]);
    assert.deepEqual(namedPaths(comments('x.yml', 'key: sensors/#  # from broker/emqx/acl.conf\n')), [{ line: 1, path: 'broker/emqx/acl.conf' }]);
    assert.deepEqual(namedPaths('[a](docs/grafana.md#dashboards), ../bench/x, `scripts/test.sh`: ok'), [
      { line: 1, path: 'docs/grafana.md' }, { line: 1, path: 'scripts/test.sh' },
    ]);
  });

  const existing = (clean: string): boolean => {
    if (clean.includes('*')) {
      const slash = clean.lastIndexOf('/');
      const dir = join(ROOT, clean.slice(0, slash));
      const name = new RegExp(`^${clean.slice(slash + 1).split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
      return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).some((entry) => name.test(entry));
    }
    return existsSync(join(ROOT, clean));
  };

  test('every path that starts with a top-level folder of the repository exists', () => {
    const problems: string[] = [];
    const seen = new Set<string>();
    const sources = [
      ...DOC_FILES.map((file) => ({ file, text: read(file) })),
      ...repoFiles().filter((file) => CODE_FILE.test(file) && !file.startsWith('docs/')).map((file) => ({ file, text: comments(file, read(file)) })),
    ];
    for (const { file, text } of sources) {
      for (const { line, path } of namedPaths(text)) {
        seen.add(path);
        if (path in NOT_REPO_PATHS) continue;
        if (!existing(path)) problems.push(`${file}:${line}: ${path} does not exist in the repository`);
      }
    }
    for (const path of Object.keys(NOT_REPO_PATHS)) {
      if (!seen.has(path)) problems.push(`test/unit/docs.test.ts: NOT_REPO_PATHS lists ${path}, which nothing names any more: remove it`);
    }
    expectNone(problems, 'paths that do not exist');
  });
});
