/**
 * Every variable .env documents reaches the compose service whose program
 * reads it (issue 19, defect 4: MQTT_TOPICS never reached the ingestor).
 *
 * "Reads" comes from the programs' own settings tables (`*\/settings.ts`) and,
 * for Grafana, from the `$VAR`s its provisioning files expand; "reaches" from
 * `docker-compose config` itself (docker-compose 1.29 here: it reads .env and
 * resolves every ${VAR} as `docker compose up` does), run with no variable of
 * ours in its environment, so only .env counts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { variableNames } from '../../common/config/schema.ts';
import { COMMON_SCHEMA } from '../../common/settings.ts';
import { INGESTOR_SCHEMA } from '../../ingestor/settings.ts';
import { EMQX_USERS_REFUSES, EMQX_USERS_SCHEMA } from '../../broker/emqx/settings.ts';
import { SETUP_REFUSES, SETUP_SCHEMA } from '../../influxdb/settings.ts';
import { NOTIFIER_SCHEMA } from '../../notifier/settings.ts';
import { SIMULATOR_SCHEMA } from '../../simulator/settings.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;

interface Service { command?: string[] | string; entrypoint?: string[] | string; environment?: Record<string, string | null> }
type Compose = { services: Record<string, Service> };

/** .env's variables, each with the comment block above it (variables on consecutive lines share one). */
function envFile(): Map<string, { value: string; comment: string }> {
  const variables = new Map<string, { value: string; comment: string }>();
  let comment: string[] = [];
  let afterVariable = false;
  for (const line of read('.env').split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) {
      variables.set(match[1]!, { value: match[2]!, comment: comment.join(' ') });
      afterVariable = true;
    } else if (line.startsWith('#') && !line.startsWith('# ---')) {
      if (afterVariable) comment = [];
      comment.push(line.slice(1).trim());
      afterVariable = false;
    } else {
      comment = [];
      afterVariable = false;
    }
  }
  return variables;
}

/** The variables Grafana's provisioning files expand ($VAR, ${VAR}; not $$). Rules are taken raw in 12.0.2. */
function grafanaReads(): string[] {
  const dir = join(ROOT, 'grafana', 'provisioning');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.yaml') && !file.endsWith('rules.yaml'));
  const withoutComments = (text: string): string => text.split('\n').filter((line) => !line.trim().startsWith('#')).join('\n');
  const names = files.flatMap((file) => [...withoutComments(readFileSync(join(dir, file), 'utf8')).matchAll(/(?<!\$)\$\{?([A-Z][A-Z0-9_]{2,})/g)].map((m) => m[1]!));
  return [...new Set(names)];
}

/** What each compose service's program reads. */
const READS: Record<string, readonly string[]> = {
  ingestor: variableNames(INGESTOR_SCHEMA),
  notifier: variableNames(NOTIFIER_SCHEMA),
  simulator: variableNames(SIMULATOR_SCHEMA),
  setup: [...variableNames(SETUP_SCHEMA), ...SETUP_REFUSES],
  'emqx-users': [...variableNames(EMQX_USERS_SCHEMA), ...EMQX_USERS_REFUSES],
  grafana: grafanaReads(),
};
const COMMON = new Set(variableNames(COMMON_SCHEMA));

const raw = parse(read('docker-compose.yml'), { merge: true }) as Compose;
/** `${NAME}`, `${NAME:-default}` or `${NAME:?message}`: the variable, as compose passes it on. */
const PASSED = /^\$\{([A-Z0-9_]+)(?::[-?][^}]*)?\}$/;
const passes = (value: string | null | undefined, name: string): boolean => PASSED.exec(String(value))?.[1] === name;
const env = envFile();

function resolved(): Compose {
  // Only PATH: a variable of ours set in the test's environment would win over .env.
  const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return parse(result.stdout) as Compose;
}

describe('.env → docker-compose.yml → the program that reads it', () => {
  test('grafana reads what its provisioning expands (the reader list is not empty by accident)', () => {
    assert.deepEqual(READS.grafana!.slice().sort(), ['GRAFANA_DASHBOARDS_DIR', 'INFLUX_BUCKET', 'INFLUX_READ_TOKEN', 'INFLUX_URL', 'NOTIFIER_TOKEN', 'NOTIFIER_URL']);
  });

  test('every .env variable a service\'s program reads is passed to that service as ${VAR}, or set there by compose and .env says compose wires its own', () => {
    const problems: string[] = [];
    for (const [name, { comment }] of env) {
      for (const [service, names] of Object.entries(READS)) {
        if (!names.includes(name) || COMMON.has(name)) continue;
        const definition = raw.services[service];
        assert.ok(definition, service);
        const given = definition.environment?.[name];
        const passedElsewhere = JSON.stringify([definition.command, definition.entrypoint]).includes(`\${${name}}`);
        if (passes(given, name) || passedElsewhere) continue;
        if (given === undefined || given === null) problems.push(`${service} reads ${name}, which .env sets, but compose does not give it to ${service}`);
        else if (!/compose/i.test(comment)) problems.push(`${service} gets ${name}=${given} from compose, not .env's value, and .env's comment on ${name} does not say so`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every .env variable is used: by a service\'s program, by compose\'s own ${VAR}s, or said to be for a local run', () => {
    // Overlays count too: docker-compose.influx3.yml is the one user of INFLUX_CORE_ADMIN_TOKEN.
    const composeText = ['docker-compose.yml', 'docker-compose.influx3.yml'].map(read).join('\n').split('\n').filter((line) => !line.trim().startsWith('#')).join('\n');
    const problems: string[] = [];
    for (const [name, { comment }] of env) {
      const readByService = Object.values(READS).some((names) => names.includes(name)) || COMMON.has(name);
      const usedByCompose = composeText.includes(`\${${name}}`) || composeText.includes(`\${${name}:`) || name.startsWith('COMPOSE_');
      if (!readByService && !usedByCompose) problems.push(`${name}: neither compose nor any service uses it`);
      if (!usedByCompose && !/local|npm run/i.test(comment)) problems.push(`${name}: compose never passes it on, and .env's comment does not say it is for a local run`);
    }
    assert.deepEqual(problems, []);
  });

  test('docker-compose config: each passed variable arrives with .env\'s value', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
    const config = resolved();
    let checked = 0;
    for (const [service, definition] of Object.entries(raw.services)) {
      for (const [name, value] of Object.entries(definition.environment ?? {})) {
        const passed = PASSED.exec(String(value));
        if (!passed) continue;
        const expected = env.get(passed[1]!)?.value;
        assert.ok(expected !== undefined, `${service}.${name} uses ${passed[1]}, which .env does not set`);
        // docker-compose 1.29 writes an empty value as '' (or null for an unset one).
        assert.equal(config.services[service]?.environment?.[name] ?? '', expected, `${service}.${name}`);
        checked += 1;
      }
    }
    assert.ok(checked > 30, `only ${checked} passed variables`);
    assert.equal(config.services.ingestor?.environment?.MQTT_TOPICS, '', 'MQTT_TOPICS reaches the ingestor (empty: the default list)');
  });

  test('an empty NOTIFIER_TOKEN stops every compose command before anything starts, naming it (Grafana 12.0.2 would start without it)', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
    for (const service of ['notifier', 'grafana']) assert.match(String(raw.services[service]?.environment?.NOTIFIER_TOKEN), /^\$\{NOTIFIER_TOKEN:\?NOTIFIER_TOKEN must be set in \.env/, service);
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NOTIFIER_TOKEN: '' }, encoding: 'utf8' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /in service "(notifier|grafana)": NOTIFIER_TOKEN must be set in \.env \(openssl rand -hex 24\), else Grafana would send alerts without it and the notifier refuse them$/m);
  });
});
