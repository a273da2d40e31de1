/**
 * The compose stack cannot run here (no Docker engine, no image pulls), so
 * docker-compose.yml, the Dockerfile and EMQX's files are checked against
 * their documented formats and against each other: the Compose Specification
 * schema (../shared/schemas, when present), every bind mount, variable,
 * image tag, service URL and health check, who gets which secret, and what
 * SENSORFLOW_ENV=production refuses. `docker-compose config -q` runs in
 * scripts/test.sh.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { DEVELOPMENT_SECRETS, developmentSecretProblem } from '../../common/production.ts';
import { variableNames } from '../../common/config/schema.ts';
import { COMMON_SCHEMA } from '../../common/settings.ts';
import { INGESTOR_REFUSES, INGESTOR_SCHEMA } from '../../ingestor/settings.ts';
import { EMQX_USERS_REFUSES, EMQX_USERS_SCHEMA } from '../../broker/emqx/settings.ts';
import { SETUP_REFUSES, SETUP_SCHEMA } from '../../influxdb/settings.ts';
import { NOTIFIER_REFUSES, NOTIFIER_SCHEMA } from '../../notifier/settings.ts';
import { SIMULATOR_SCHEMA } from '../../simulator/settings.ts';
import { bootstrapFileContent, bootstrapUsers, emqxSha256Suffix, hashedBootstrapUsers, type HashedBootstrapUser } from '../../broker/emqx/users.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SCHEMAS = join(ROOT, '..', 'shared', 'schemas');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** .env as docker compose reads it: NAME=value lines. */
function envFile(): Record<string, string> {
  const entries = read('.env')
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]);
  return Object.fromEntries(entries);
}

interface Healthcheck { test?: string[] | string; disable?: boolean }
interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Healthcheck;
  restart?: string;
  profiles?: string[];
  secrets?: { source: string; target: string }[];
}
type Compose = { services: Record<string, ComposeService>; volumes: Record<string, unknown>; secrets?: Record<string, { file: string }> };

const composeText = read('docker-compose.yml');
// Merge keys (<<: *sensorflow) as docker compose resolves them.
const compose = parse(composeText, { merge: true }) as Compose;
const env = envFile();
/** ${VAR} replaced from .env, as compose does. */
const interpolate = (text: string): string => text.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, word?: string) => env[name] || (kind === '-' ? word! : env[name] ?? ''));
const services = Object.entries(compose.services);
const ONE_SHOT = new Set(['emqx-users', 'setup']);
const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
const packageVersion = (JSON.parse(read('package.json')) as { version: string }).version;

describe('docker-compose.yml', () => {
  test('is valid against the Compose Specification schema', { skip: !existsSync(SCHEMAS) && 'no ../shared/schemas (the schema lives beside the project)' }, () => {
    const { $schema: _draft, ...schema } = JSON.parse(readFileSync(join(SCHEMAS, 'compose', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    assert.ok(validate(parse(composeText, { merge: true })), JSON.stringify(validate.errors, null, 2));
  });

  test('has the whole stack, two one-shot set-up services among it', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['emqx', 'emqx-users', 'grafana', 'influxdb', 'ingestor', 'notifier', 'setup', 'simulator']);
    for (const name of ONE_SHOT) assert.equal(compose.services[name]?.restart, 'no', name);
  });

  test('every ${VAR} it uses is defined in .env', () => {
    const code = composeText.split('\n').filter((text) => !text.trim().startsWith('#')).join('\n');
    const used = [...code.matchAll(/\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}/g)].map((m) => m[1]!);
    assert.ok(used.length > 20);
    for (const name of used) assert.ok(name in env, `${name} is used by docker-compose.yml but not set in .env`);
  });

  test('every image is pinned to a version; ours to the package version', () => {
    for (const [name, service] of services) {
      assert.ok(service.image !== undefined, `${name} has no image`);
      const [, tag] = service.image.split(':');
      assert.ok(tag !== undefined && /^\d+\.\d+\.\d+$/.test(tag), `${name}: ${service.image} is not pinned to a full version`);
      if (service.build !== undefined) assert.equal(service.image, `sensorflow:${packageVersion}`, name);
    }
  });

  test('every bind-mounted path exists in the repo', () => {
    // A source may come from .env (${MQTT_DEVICES_FILE}): checked as compose resolves it.
    const binds = services.flatMap(([name, service]) => (service.volumes ?? []).map(interpolate).filter((v) => v.startsWith('.')).map((v) => [name, v.split(':')[0]!] as const));
    assert.ok(binds.length >= 4);
    for (const [name, path] of binds) assert.ok(existsSync(join(ROOT, path)), `${name} mounts ${path}, which does not exist`);
  });

  test('every named volume is declared, and every stateful service has one', () => {
    const declared = new Set(Object.keys(compose.volumes));
    for (const [name, service] of services) {
      for (const volume of (service.volumes ?? []).map(interpolate)) {
        if (!volume.startsWith('.')) assert.ok(declared.has(volume.split(':')[0]!), `${name} uses undeclared volume ${volume}`);
      }
    }
    const mountsOf = (name: string): string[] => (compose.services[name]?.volumes ?? []).map((v) => v.split(':').slice(0, 2).join(':'));
    assert.ok(mountsOf('emqx').includes('emqx-data:/opt/emqx/data'));
    assert.ok(mountsOf('influxdb').includes('influxdb-data:/var/lib/influxdb2'));
    assert.ok(mountsOf('grafana').includes('grafana-data:/var/lib/grafana'));
    assert.ok(mountsOf('ingestor').includes('ingestor-wal:/app/data'), 'the write-ahead log');
    assert.ok(mountsOf('notifier').includes('notifier-data:/app/data'), 'the notifier queue');
    assert.equal(compose.services.ingestor?.environment?.WAL_DIR, '/app/data/wal');
    assert.equal(compose.services.notifier?.environment?.NOTIFIER_QUEUE_DIR, '/app/data/notifier');
  });

  test('service URLs name services that exist, on ports they listen on', () => {
    const listens: Record<string, number[]> = { emqx: [1883, 1884, 1885, 18083], influxdb: [8086], grafana: [3000], ingestor: [8080], notifier: [8090] };
    let checked = 0;
    for (const [name, service] of services) {
      for (const value of [...Object.values(service.environment ?? {}), ...(service.entrypoint ?? [])]) {
        for (const match of String(value).matchAll(/(?:mqtt|http):\/\/([a-z0-9-]+):(\d+)/g)) {
          const [, host, port] = match;
          if (host === '127.0.0.1' || host === 'localhost') continue;
          assert.ok(host! in compose.services, `${name} refers to ${host}, not a service`);
          assert.ok(listens[host!]?.includes(Number(port)), `${name} refers to ${host}:${port}, where ${host} does not listen`);
          checked += 1;
        }
      }
    }
    assert.ok(checked >= 6, `only ${checked} URLs checked`);
    assert.equal(compose.services.ingestor?.environment?.MQTT_URL, 'mqtt://emqx:1884', 'the ingestor uses its own listener (deep session queue)');
    assert.equal(compose.services.grafana?.environment?.NOTIFIER_URL, 'http://notifier:8090/grafana/webhook');
  });

  test('Grafana\'s dashboards provider reads the folder the dashboards are mounted at', () => {
    // The provider's path is $GRAFANA_DASHBOARDS_DIR (grafana/provisioning/dashboards/sensorflow.yaml).
    const mount = (compose.services.grafana?.volumes ?? []).find((volume) => volume.startsWith('./grafana/dashboards:'));
    assert.ok(mount !== undefined, 'grafana mounts ./grafana/dashboards');
    assert.equal(compose.services.grafana?.environment?.GRAFANA_DASHBOARDS_DIR, mount.split(':')[1]);
  });

  test('every long-running service has a health check; one-shots are waited for by completion', () => {
    for (const [name, service] of services) {
      if (ONE_SHOT.has(name)) {
        assert.equal(service.healthcheck?.disable, true, name);
        continue;
      }
      assert.ok(service.healthcheck?.test !== undefined, `${name} has no health check`);
      assert.equal(service.restart, 'unless-stopped', name);
    }
    for (const [name, service] of services) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        assert.equal(condition, ONE_SHOT.has(dependency) ? 'service_completed_successfully' : 'service_healthy', `${name} → ${dependency}`);
      }
    }
    assert.ok('setup' in (compose.services.ingestor?.depends_on ?? {}));
    assert.ok('setup' in (compose.services.grafana?.depends_on ?? {}));
    assert.ok('emqx-users' in (compose.services.emqx?.depends_on ?? {}));
  });

  test('ports: MQTT for devices, Grafana and the EMQX dashboard where .env says (loopback by default), the rest loopback only', () => {
    const published = services.flatMap(([name, service]) => (service.ports ?? []).map((port) => [name, interpolate(port)] as const));
    for (const [name, port] of published) {
      const public_ = port === '1883:1883';
      assert.ok(public_ || port.startsWith('127.0.0.1:'), `${name} publishes ${port} beyond loopback`);
    }
    assert.deepEqual(published.map(([name]) => name).sort(), ['emqx', 'emqx', 'grafana', 'influxdb', 'ingestor', 'notifier']);
  });

  test('no admin token outside setup: the ingestor and Grafana get scoped tokens from files', () => {
    const adminVariables = ['INFLUX_ADMIN_TOKEN', 'INFLUX_ADMIN_PASSWORD'];
    for (const [name, service] of services) {
      const text = JSON.stringify(service);
      for (const variable of adminVariables) {
        if (name === 'setup' || name === 'influxdb') continue;
        assert.ok(!text.includes(variable), `${name} is given ${variable}`);
      }
    }
    assert.equal(compose.services.ingestor?.environment?.INFLUX_TOKEN_FILE, '/var/lib/sensorflow/tokens/ingestor-write.token');
    assert.ok(!('INFLUX_TOKEN' in (compose.services.ingestor?.environment ?? {})));
    assert.match(compose.services.grafana?.entrypoint?.join(' ') ?? '', /cat \/var\/lib\/sensorflow\/tokens\/grafana-read\.token/);
    assert.ok((compose.services.grafana?.volumes ?? []).includes('influx-tokens:/var/lib/sensorflow/tokens:ro'));
    assert.equal(compose.services.setup?.environment?.SETUP_TOKEN_DIR, '/var/lib/sensorflow/tokens');
  });

  test('each of our services is configured only with names its schema knows (or its production check reads)', () => {
    const schemas: Record<string, readonly string[]> = {
      ingestor: variableNames(INGESTOR_SCHEMA),
      notifier: variableNames(NOTIFIER_SCHEMA),
      simulator: variableNames(SIMULATOR_SCHEMA),
      setup: [...variableNames(SETUP_SCHEMA), ...SETUP_REFUSES],
      'emqx-users': [...variableNames(EMQX_USERS_SCHEMA), ...EMQX_USERS_REFUSES],
    };
    for (const [service, names] of Object.entries(schemas)) {
      const known = new Set([...names, ...variableNames(COMMON_SCHEMA)]);
      const given = Object.keys(compose.services[service]?.environment ?? {});
      assert.ok(given.length > 0, service);
      for (const name of given) assert.ok(known.has(name), `${service} is given ${name}, which it does not read`);
    }
  });

  test('the notifier gets the agreed variables; DingTalk and Feishu are off until .env fills them', () => {
    const environment = compose.services.notifier?.environment ?? {};
    for (const name of ['NOTIFIER_PORT', 'NOTIFIER_HOST', 'NOTIFIER_TOKEN', 'NOTIFIER_QUEUE_DIR', 'NOTIFIER_LANGUAGE', 'DINGTALK_WEBHOOK_URL', 'DINGTALK_SECRET', 'FEISHU_WEBHOOK_URL', 'FEISHU_SECRET']) {
      assert.ok(name in environment, name);
    }
    assert.equal(compose.services.notifier?.command?.join(' '), 'node dist/notifier/main.js');
    for (const name of ['DINGTALK_WEBHOOK_URL', 'DINGTALK_SECRET', 'FEISHU_WEBHOOK_URL', 'FEISHU_SECRET']) assert.equal(env[name], '', name);
  });

  test('the simulator is on by default, one .env line turns it off, and it logs in as the gateway on the gateway listener', () => {
    assert.deepEqual(compose.services.simulator?.profiles, ['simulator']);
    assert.equal(env.COMPOSE_PROFILES, 'simulator');
    assert.equal(compose.services.simulator?.environment?.MQTT_USERNAME, 'gateway');
    assert.equal(compose.services.simulator?.environment?.MQTT_PASSWORD, '${MQTT_GATEWAY_PASSWORD}');
    // Not the devices' listener: that one replaces every client id by the user name, and the simulator's client ids are its devices'.
    assert.equal(compose.services.simulator?.environment?.MQTT_URL, 'mqtt://emqx:1885');
  });

  test('emqx-users reads per-device users from the file .env names, as a compose secret (never a bind mount Docker could create)', () => {
    const service = compose.services['emqx-users']!;
    assert.equal(service.environment?.MQTT_DEVICES_FILE, '/run/secrets/devices.yaml');
    assert.deepEqual(service.secrets, [{ source: 'devices', target: 'devices.yaml' }]);
    assert.deepEqual(compose.secrets?.devices, { file: '${MQTT_DEVICES_FILE:-./broker/emqx/devices.example.yaml}' });
    for (const [name, definition] of services) {
      assert.ok(!(definition.volumes ?? []).some((volume) => JSON.stringify(volume).includes('MQTT_DEVICES_FILE')), `${name} bind-mounts the devices file`);
    }
    assert.equal(env.MQTT_DEVICES_FILE, './broker/emqx/devices.example.yaml');
    assert.ok(existsSync(join(ROOT, env.MQTT_DEVICES_FILE)), 'the shipped default exists');
    assert.ok(read('.gitignore').split('\n').includes('secrets/'), 'where the real one goes is git-ignored');
  });

  test('docker-compose config: an empty MQTT_DEVICES_FILE is the shipped file; a missing one stays a file path compose names', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
    const devicesSecret = (value: string): string => {
      const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', MQTT_DEVICES_FILE: value }, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      const config = parse(result.stdout) as { secrets: Record<string, { file: string }>; services: Record<string, { volumes?: unknown[] }> };
      assert.ok(!JSON.stringify(config.services['emqx-users']?.volumes ?? []).includes('devices'), 'no bind mount of the devices file');
      return config.secrets.devices!.file;
    };
    assert.equal(devicesSecret(''), join(ROOT, 'broker', 'emqx', 'devices.example.yaml'));
    assert.ok(statSync(devicesSecret('')).isFile());
    assert.equal(devicesSecret('./secrets/no-such-devices.yaml'), join(ROOT, 'secrets', 'no-such-devices.yaml'));
  });
});

describe('.env and SENSORFLOW_ENV=production', () => {
  test('every secret in .env is marked [secret] and has its development default listed', () => {
    const lines = read('.env').split('\n');
    const marked = lines.flatMap((text, index) => {
      if (!text.startsWith('# [secret]')) return [];
      const variable = lines.slice(index + 1).find((next) => /^[A-Z_]+=/.test(next));
      return variable === undefined ? [] : [variable.split('=')[0]!];
    });
    assert.deepEqual(marked.sort(), Object.keys(DEVELOPMENT_SECRETS).sort());
    for (const [name, value] of Object.entries(DEVELOPMENT_SECRETS)) assert.equal(env[name], value, name);
    // Anything that looks like a secret is one of them (or empty, like the bots' until configured).
    for (const [name, value] of Object.entries(env)) {
      if (/PASSWORD|TOKEN|SECRET|COOKIE/.test(name) && value !== '') assert.ok(name in DEVELOPMENT_SECRETS, `${name} looks like a secret but is not marked`);
    }
  });

  test('every variable in .env has a comment', () => {
    const lines = read('.env').split('\n');
    lines.forEach((text, index) => {
      if (!/^[A-Z_]+=/.test(text)) return;
      let previous = index - 1;
      while (previous >= 0 && /^[A-Z_]+=/.test(lines[previous]!)) previous -= 1;
      assert.match(lines[previous] ?? '', /^#/, `${text.split('=')[0]} has no comment above its group`);
    });
  });

  test('in production, each service refuses the development default it is given, naming the variable', () => {
    const production = { ...env, SENSORFLOW_ENV: 'production' };
    const given = (service: string): string[] => Object.entries(compose.services[service]?.environment ?? {})
      .flatMap(([variable, value]) => { const m = /^\$\{([A-Z_]+)(?::[-?][^}]*)?\}$/.exec(value); return m && m[1]! in DEVELOPMENT_SECRETS ? [variable] : []; });
    const resolved = (service: string): Record<string, string> => Object.fromEntries(Object.entries(compose.services[service]?.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
    // Which of our services check which variables (their entry points call refuseDevelopmentSecrets with these).
    const checks: Record<string, readonly string[]> = {
      'emqx-users': EMQX_USERS_REFUSES,
      setup: SETUP_REFUSES,
      ingestor: INGESTOR_REFUSES,
      notifier: NOTIFIER_REFUSES,
    };
    const covered = new Set<string>();
    for (const [service, names] of Object.entries(checks)) {
      for (const variable of given(service)) {
        assert.ok(names.includes(variable), `${service} gets ${variable} but does not check it`);
        const problem = developmentSecretProblem({ ...resolved(service), SENSORFLOW_ENV: 'production' }, [variable]);
        assert.equal(problem?.variable, variable);
        assert.match(problem?.message ?? '', new RegExp(`^SENSORFLOW_ENV=production but ${variable} holds a development default`));
        covered.add(/\$\{([A-Z_]+)/.exec(compose.services[service]!.environment![variable]!)![1]!);
      }
    }
    // docker-compose.influx3.yml hands INFLUX_CORE_ADMIN_TOKEN to setup as INFLUX_ADMIN_TOKEN, which setup checks.
    const influx3 = parse(read('docker-compose.influx3.yml')) as { services: Record<string, { environment?: Record<string, string> }> };
    assert.equal(influx3.services.setup?.environment?.INFLUX_ADMIN_TOKEN, '${INFLUX_CORE_ADMIN_TOKEN}');
    assert.ok(SETUP_REFUSES.includes('INFLUX_ADMIN_TOKEN'));
    assert.equal(developmentSecretProblem({ SENSORFLOW_ENV: 'production', INFLUX_ADMIN_TOKEN: env.INFLUX_CORE_ADMIN_TOKEN }, ['INFLUX_ADMIN_TOKEN'])?.variable, 'INFLUX_ADMIN_TOKEN');
    covered.add('INFLUX_CORE_ADMIN_TOKEN');
    // Every development secret reaches at least one check before the service that uses it starts.
    for (const name of Object.keys(DEVELOPMENT_SECRETS)) assert.ok(covered.has(name), `${name} is never checked`);
    // Secrets from files count too, and real secrets pass.
    assert.equal(developmentSecretProblem({ SENSORFLOW_ENV: 'production', INFLUX_TOKEN_FILE: '/t' }, ['INFLUX_TOKEN'], () => 'sensorflow-dev-admin-token\n')?.variable, 'INFLUX_TOKEN_FILE');
    assert.equal(developmentSecretProblem({ ...production, MQTT_PASSWORD: 'x7-long-random' }, ['MQTT_PASSWORD']), undefined);
    assert.equal(developmentSecretProblem({ ...env, MQTT_PASSWORD: 'monitor-dev-password' }, ['MQTT_PASSWORD']), undefined, 'development allows them');
    assert.equal(developmentSecretProblem({ SENSORFLOW_ENV: 'prod' }, [])?.variable, 'SENSORFLOW_ENV');
  });
});

describe('EMQX configuration (broker/emqx)', () => {
  // A HOCON parser (EMQX's configuration language); the package ships no types.
  const parseHocon = createRequire(import.meta.url)('@pushcorn/hocon-parser') as (options: { text: string; strict: boolean }) => Promise<Record<string, unknown>>;
  const hoconParse = (text: string): Promise<Record<string, unknown>> => parseHocon({ text, strict: true });

  test('base.hocon: password authentication from the bootstrap file compose fills, the ACL compose mounts, deny by default', async () => {
    const base = await hoconParse(read('broker/emqx/base.hocon')) as {
      authentication: Record<string, unknown>[];
      authorization: { no_match: string; deny_action: string; sources: { type: string; enable: boolean; path: string }[] };
      listeners: {
        tcp: Record<string, { bind: string; zone?: string }>;
        ssl: Record<string, { enable: boolean; bind: string; zone?: string; enable_authn?: boolean; ssl_options: Record<string, string> }>;
        ws: { default: { enable: boolean } };
        wss: { default: { enable: boolean } };
      };
      zones: Record<string, { mqtt: Record<string, unknown> }>;
      mqtt: Record<string, unknown>;
      dashboard: unknown;
    };
    // EMQX 5.8's built-in database authenticator (emqx_authn_mnesia_schema): these fields and values.
    assert.deepEqual(base.authentication, [{
      mechanism: 'password_based', backend: 'built_in_database', user_id_type: 'username',
      password_hash_algorithm: { name: 'sha256', salt_position: 'suffix' },
      bootstrap_file: '/opt/emqx/etc/sensorflow/users.json', bootstrap_type: 'hash',
    }]);
    const emqx = compose.services.emqx!;
    assert.ok(emqx.volumes?.includes('emqx-bootstrap:/opt/emqx/etc/sensorflow:ro'));
    assert.equal(compose.services['emqx-users']?.environment?.EMQX_BOOTSTRAP_FILE, '/var/lib/sensorflow/emqx/users.json');
    assert.ok(compose.services['emqx-users']?.volumes?.includes('emqx-bootstrap:/var/lib/sensorflow/emqx'));
    // The JSON format: file extension .json, an array of {user_id, password_hash, salt, is_superuser}.
    assert.match(String(base.authentication[0]!.bootstrap_file), /\.json$/);
    assert.deepEqual(base.authorization, { no_match: 'deny', deny_action: 'disconnect', sources: [{ type: 'file', enable: true, path: '/opt/emqx/etc/acl.conf' }] });
    assert.ok(emqx.volumes?.includes('./broker/emqx/acl.conf:/opt/emqx/etc/acl.conf:ro'));
    assert.ok(emqx.volumes?.includes('./broker/emqx/base.hocon:/opt/emqx/etc/base.hocon:ro'));
    // The ingestor's listener and zone; compose sizes it through EMQX_ variables (__ = .).
    assert.deepEqual(base.listeners.tcp.ingestor, { bind: '0.0.0.0:1884', zone: 'ingestor' });
    assert.deepEqual(base.listeners.tcp.default, { bind: '0.0.0.0:1883', zone: 'devices' });
    // Zone gateway: on 8885 a certificate's CN is the user name (peer_cert_as_username; no effect without TLS).
    assert.deepEqual(base.listeners.tcp.gateway, { bind: '0.0.0.0:1885', zone: 'gateway' });
    assert.ok('ingestor' in base.zones);
    // Devices: the client id is the user name (EMQX 5 `mqtt.use_username_as_clientid`, a zone setting), so a
    // device cannot take over another's session, or the ingestor's (sensorflow-ingestor is no device's name).
    assert.deepEqual(base.zones.devices, { mqtt: { use_username_as_clientid: true } });
    assert.deepEqual(base.zones.devices_tls, { mqtt: { peer_cert_as_username: 'cn', use_username_as_clientid: true } });
    // TLS listeners: off until docker-compose.tls.yml turns them on; the image's WebSocket listeners off.
    // Complete while off: the image's own certificates (EMQX's defaults), which docker-compose.tls.yml replaces.
    const imageCerts = { cacertfile: '${EMQX_ETC_DIR}/certs/cacert.pem', certfile: '${EMQX_ETC_DIR}/certs/cert.pem', keyfile: '${EMQX_ETC_DIR}/certs/key.pem' };
    assert.deepEqual(base.listeners.ssl, {
      default: { enable: false, bind: '0.0.0.0:8883', zone: 'devices_tls', enable_authn: false, ssl_options: imageCerts },
      ingestor: { enable: false, bind: '0.0.0.0:8884', zone: 'ingestor', ssl_options: imageCerts },
      gateway: { enable: false, bind: '0.0.0.0:8885', zone: 'gateway', ssl_options: imageCerts },
    });
    assert.deepEqual([base.listeners.ws.default.enable, base.listeners.wss.default.enable], [false, false]);
    // Shared-subscription dispatch: EMQX 5.8 reads it under `mqtt` (broker.* is deprecated since 5.1); docs/scaling.md rests on this line.
    assert.deepEqual(base.mqtt, { shared_subscription_strategy: 'round_robin' });
    assert.ok(read('docs/scaling.md').includes('`mqtt.shared_subscription_strategy = round_robin`'));
    const zoneVariables = Object.keys(emqx.environment ?? {}).filter((name) => name.startsWith('EMQX_ZONES__'));
    assert.deepEqual(zoneVariables.map((name) => name.replace(/^EMQX_/, '').toLowerCase().split('__').join('.')).sort(), [
      'zones.ingestor.mqtt.max_mqueue_len', 'zones.ingestor.mqtt.session_expiry_interval',
    ]);
    for (const path of ['max_mqueue_len', 'session_expiry_interval']) assert.ok(path in base.zones.ingestor.mqtt, path);
    assert.ok(Number(env.EMQX_INGESTOR_MAX_MQUEUE_LEN) >= 100_000, 'far beyond EMQX default of 1,000');
    assert.match(env.EMQX_INGESTOR_SESSION_EXPIRY ?? '', /^\d+[smhd]$/);
  });

  test('the bootstrap file is the documented JSON, from .env and the devices file, with no superuser', () => {
    const shipped = { ...env, MQTT_DEVICES_FILE: join(ROOT, env.MQTT_DEVICES_FILE!) };
    assert.deepEqual(bootstrapUsers(shipped), [
      { user_id: 'monitor', password: 'monitor-dev-password', is_superuser: false },
      { user_id: 'gateway', password: 'gateway-dev-password', is_superuser: false },
    ], 'the shipped example lists no device');
    const files: Record<string, string> = {
      'devices.yaml': 'devices:\n  - { username: dev-001, password: "s3cret: 1" }\n  - { username: dev-002, password: two }\n',
      'slash.yaml': 'devices:\n  - { username: lab/dev-1, password: x }\n',
      'plus.yaml': 'devices:\n  - { username: "+", password: x }\n',
      'reserved.yaml': 'devices:\n  - { username: sensorflow-ingestor, password: x }\n',
      'twice.yaml': 'devices:\n  - { username: a, password: x }\n  - { username: a, password: y }\n',
      'nopassword.yaml': 'devices:\n  - { username: a }\n',
    };
    const readFile = (path: string): Buffer => {
      if (!(path in files)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return Buffer.from(files[path]!);
    };
    const withDevices = (file: string) => bootstrapUsers({ MQTT_MONITOR_PASSWORD: 'm', MQTT_GATEWAY_PASSWORD: 'g', MQTT_DEVICES_FILE: file }, readFile);
    assert.deepEqual(withDevices('devices.yaml'), [
      { user_id: 'monitor', password: 'm', is_superuser: false },
      { user_id: 'gateway', password: 'g', is_superuser: false },
      { user_id: 'dev-001', password: 's3cret: 1', is_superuser: false },
      { user_id: 'dev-002', password: 'two', is_superuser: false },
    ]);
    // A name that is not one topic level would widen sensors/+/${username}/# in acl.conf to other devices.
    assert.throws(() => withDevices('slash.yaml'), /^BootstrapError: MQTT_DEVICES_FILE="slash\.yaml": devices\[0\]: the user name "lab\/dev-1" contains "\/", "\+" or "#"/);
    assert.throws(() => withDevices('plus.yaml'), /^BootstrapError: MQTT_DEVICES_FILE="plus\.yaml": devices\[0\]: the user name "\+" contains/);
    assert.throws(() => withDevices('reserved.yaml'), /"sensorflow-ingestor" is reserved/);
    assert.throws(() => withDevices('twice.yaml'), /devices\[1\]: "a" is listed twice/);
    assert.throws(() => withDevices('nopassword.yaml'), /devices\[0\] must have a username and a non-empty password/);
    assert.throws(() => withDevices('missing.yaml'), /^BootstrapError: MQTT_DEVICES_FILE="missing\.yaml": cannot read the file \(ENOENT\)/);
    // Any password is hashed as its UTF-8 bytes, quotes, commas and newlines included.
    const odd = bootstrapUsers({ MQTT_MONITOR_PASSWORD: 'a,"b"\\c\nd', MQTT_GATEWAY_PASSWORD: 'x' });
    const [record] = JSON.parse(bootstrapFileContent(hashedBootstrapUsers(odd, undefined, () => '0'.repeat(32)))) as HashedBootstrapUser[];
    assert.equal(record!.password_hash, emqxSha256Suffix('a,"b"\\c\nd', '0'.repeat(32)));
    assert.throws(() => bootstrapUsers({ MQTT_MONITOR_PASSWORD: 'x' }), /^BootstrapError: MQTT_GATEWAY_PASSWORD: expected the password/);
  });

  test('acl.conf: Erlang terms in EMQX 5 file-authorizer syntax, ending in deny all', () => {
    const rules = read('broker/emqx/acl.conf').split('\n').filter((text) => text.trim() !== '' && !text.startsWith('%%'));
    const rule = /^\{(allow|deny), (all|\{username, "[^"]+"\}|\{user, "[^"]+"\}|\{clientid, "[^"]+"\}), (publish|subscribe|all), \[("[^"]+"(, "[^"]+")*)\]\}\.$/;
    for (const text of rules.slice(0, -1)) assert.match(text, rule);
    assert.equal(rules.at(-1), '{deny, all}.');
    // Placeholders EMQX 5 expands in file rules: ${clientid}, ${username}.
    for (const placeholder of read('broker/emqx/acl.conf').matchAll(/\$\{([a-z_]+)\}/g)) assert.ok(['clientid', 'username'].includes(placeholder[1]!));
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  test('multi-stage, Node LTS, npm ci, compiled TypeScript, production dependencies only, non-root, tini, HEALTHCHECK', () => {
    const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    assert.ok(stages.length >= 2);
    for (const image of stages) assert.match(image, /^node:(22|24)-bookworm-slim$/, 'an LTS Node on Debian bookworm');
    assert.match(dockerfile, /RUN npm ci --no-audit --no-fund\n/);
    assert.match(dockerfile, /RUN npm run build/);
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    assert.match(dockerfile, /^HEALTHCHECK .*dist\/common\/healthcheck\.js/m);
    assert.ok(read('.dockerignore').split('\n').includes('.env'), 'secrets stay out of the build context');
  });

  test('every program compose runs is built by tsconfig.build.json', () => {
    const include = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;
    for (const [name, service] of services) {
      const program = service.command?.[1] ?? (service.build !== undefined ? 'dist/ingestor/main.js' : undefined);
      if (program === undefined || service.build === undefined) continue;
      const top = program.replace(/^dist\//, '').split('/')[0]!;
      assert.ok(include.includes(top), `${name} runs ${program}, but ${top}/ is not compiled`);
      if (top !== 'notifier') assert.ok(existsSync(join(ROOT, program.replace(/^dist\//, '').replace(/\.js$/, '.ts'))), `${name}: ${program} has no source`);
    }
  });
});
