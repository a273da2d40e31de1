/**
 * mqtts:// in the compose stack: docker-compose.tls.yml on top of
 * docker-compose.yml, EMQX's TLS listeners in broker/emqx/base.hocon, and the
 * certificates scripts/make-certs.sh makes. EMQX cannot run here, so the
 * files are checked against each other and against the EMQX 5.8 keys they
 * rely on; the merged file is checked by docker-compose itself and by the
 * Compose Specification schema; the certificates by openssl.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const SCHEMAS = join(ROOT, '..', 'shared', 'schemas');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;

interface Service { environment?: Record<string, string>; volumes?: string[]; ports?: string[]; secrets?: { source: string; target: string }[] }
type ComposeFile = { services: Record<string, Service>; secrets?: Record<string, { file: string }> };
const tls = parse(read('docker-compose.tls.yml'), { merge: true }) as ComposeFile;
const base = parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;

const parseHocon = createRequire(import.meta.url)('@pushcorn/hocon-parser') as (options: { text: string; strict: boolean }) => Promise<Record<string, unknown>>;
type Listener = { enable: boolean; bind: string; zone?: string; enable_authn?: boolean; ssl_options?: Record<string, string> };
const hocon = (await parseHocon({ text: read('broker/emqx/base.hocon'), strict: true })) as { listeners: { ssl: Record<string, Listener>; tcp: Record<string, Listener> }; zones: Record<string, { mqtt: Record<string, unknown> } | undefined> };

/** `/run/…` or `/opt/…` path inside a container → the ./certs file mounted there (as a compose secret). */
function mounts(service: Service): Map<string, string> {
  return new Map((service.secrets ?? []).map(({ source, target }) => [target, tls.secrets?.[source]?.file ?? `(no secret ${source})`]));
}

describe('docker-compose.tls.yml', () => {
  test('docker-compose accepts the two files together (config --quiet)', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', '-f', 'docker-compose.tls.yml', 'config', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), '', 'no warnings');
  });

  test('the merged stack is valid against the Compose Specification schema and keeps the plain stack\'s settings', { skip: (!hasCompose || !existsSync(SCHEMAS)) && 'needs docker-compose and ../shared/schemas' }, () => {
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', '-f', 'docker-compose.tls.yml', 'config'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const merged = parse(result.stdout) as { services: Record<string, Omit<Service, 'ports'> & { ports?: ({ target: number } | string)[] }> };
    const { $schema: _draft, ...schema } = JSON.parse(readFileSync(join(SCHEMAS, 'compose', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    assert.ok(validate(merged), JSON.stringify(validate.errors, null, 2));
    const emqx = merged.services.emqx!;
    // Merged, not replaced: the ingestor zone's sizing from docker-compose.yml is still there beside the TLS settings.
    assert.equal(emqx.environment?.EMQX_ZONES__INGESTOR__MQTT__MAX_MQUEUE_LEN, '1000000');
    assert.equal(emqx.environment?.EMQX_LISTENERS__SSL__DEFAULT__ENABLE, 'true');
    // docker-compose 1.x prints `host:port:port/tcp` strings for an address binding, objects otherwise.
    const targets = emqx.ports?.map((port) => (typeof port === 'string' ? Number(port.split(':').at(-1)!.split('/')[0]) : port.target)).sort((a, b) => a - b);
    assert.deepEqual(targets, [1883, 8883, 18083]);
    assert.equal(merged.services.ingestor?.environment?.MQTT_URL, 'mqtts://emqx:8884');
    assert.equal(merged.services.ingestor?.environment?.MQTT_USERNAME, 'monitor', 'still its user, now with a certificate');
    assert.equal(merged.services.simulator?.environment?.MQTT_USERNAME, 'gateway');
  });

  test('every EMQX_ variable sets an EMQX 5.8 key of a TLS listener base.hocon defines (off there)', () => {
    const environment = tls.services.emqx?.environment ?? {};
    // ssl_options keys of EMQX 5.8's listener schema (emqx_schema, "listener_ssl_opts"), and the listener's own `enable`.
    const known = new Set(['enable', 'ssl_options.cacertfile', 'ssl_options.certfile', 'ssl_options.keyfile', 'ssl_options.verify', 'ssl_options.fail_if_no_peer_cert']);
    const byListener = new Map<string, Record<string, string>>();
    for (const [name, value] of Object.entries(environment)) {
      const path = name.replace(/^EMQX_/, '').toLowerCase().split('__');
      assert.deepEqual(path.slice(0, 2), ['listeners', 'ssl'], name);
      const listener = path[2]!;
      assert.ok(listener in hocon.listeners.ssl, `${name}: base.hocon has no listeners.ssl.${listener}`);
      const key = path.slice(3).join('.');
      assert.ok(known.has(key), `${name}: ${key} is not a key this file may set`);
      byListener.set(listener, { ...byListener.get(listener), [key]: value });
    }
    assert.deepEqual([...byListener.keys()].sort(), ['default', 'gateway', 'ingestor']);
    for (const [listener, settings] of byListener) {
      const paths: Record<string, string> = { ...settings };
      assert.equal(hocon.listeners.ssl[listener]!.enable, false, `listeners.ssl.${listener} is off without the override`);
      // Devices' certificates come from ca.crt, the services' (monitor, gateway) from services-ca.crt:
      // each listener trusts only its own (scripts/make-certs.sh), so a service certificate is refused
      // on 8883, where a certificate alone logs in (enable_authn = false), and a device's on 8884/8885.
      assert.deepEqual(settings, {
        enable: 'true',
        'ssl_options.cacertfile': `/opt/emqx/etc/sensorflow-certs/${listener === 'default' ? 'ca.crt' : 'services-ca.crt'}`,
        'ssl_options.certfile': '/opt/emqx/etc/sensorflow-certs/server.crt',
        'ssl_options.keyfile': '/opt/emqx/etc/sensorflow-certs/server.key',
        'ssl_options.verify': 'verify_peer',
        'ssl_options.fail_if_no_peer_cert': 'true',
      }, listener);
      for (const key of ['ssl_options.cacertfile', 'ssl_options.certfile', 'ssl_options.keyfile']) {
        assert.equal(mounts(tls.services.emqx!).get(paths[key]!)?.replace(/^\.\/certs\//, '/opt/emqx/etc/sensorflow-certs/'), paths[key], `${key} is mounted`);
      }
    }
    // Roles as on the plain listeners: devices' certificate CN is the user name; the ingestor keeps its deep-queue zone.
    const { ssl_options: _imageCerts, ...devices } = hocon.listeners.ssl.default!;
    assert.deepEqual(devices, { enable: false, bind: '0.0.0.0:8883', zone: 'devices_tls', enable_authn: false });
    for (const [name, listener] of Object.entries(hocon.listeners.ssl)) {
      assert.deepEqual(Object.keys(listener.ssl_options ?? {}).sort(), ['cacertfile', 'certfile', 'keyfile'], `the override replaces every file listeners.ssl.${name} names`);
    }
    assert.equal(hocon.listeners.ssl.ingestor!.zone, hocon.listeners.tcp.ingestor!.zone);
    assert.equal(hocon.listeners.ssl.gateway!.zone, hocon.listeners.tcp.gateway!.zone);
    // On 8884/8885 the certificate's CN is the user name, so a certificate logs in only as itself, with
    // that user's password (emqx_channel:set_peercert_infos then set_username keeps it, EMQX 5.8.6).
    for (const listener of ['ingestor', 'gateway'] as const) {
      const zone = hocon.listeners.ssl[listener]!.zone ?? 'default';
      assert.equal(hocon.zones[zone]?.mqtt.peer_cert_as_username, 'cn', `zone ${zone} of listeners.ssl.${listener}`);
      assert.equal(hocon.listeners.ssl[listener]!.enable_authn, undefined, `listeners.ssl.${listener} asks for the password`);
    }
  });

  test('the ingestor and the simulator dial their TLS listeners with their own certificate, CA and key files mounted', () => {
    const ports = Object.fromEntries(Object.entries(hocon.listeners.ssl).map(([name, listener]) => [name, Number(listener.bind.split(':').at(-1))]));
    for (const [service, listener, user] of [['ingestor', 'ingestor', 'monitor'], ['simulator', 'gateway', 'gateway']] as const) {
      const environment = tls.services[service]?.environment ?? {};
      assert.equal(environment.MQTT_URL, `mqtts://emqx:${ports[listener]}`, service);
      assert.equal(base.services[service]?.environment?.MQTT_USERNAME, user, `${service} logs in as ${user}: its certificate's CN`);
      const mounted = mounts(tls.services[service]!);
      for (const [variable, file] of [['MQTT_CA_FILE', 'ca.crt'], ['MQTT_CERT_FILE', `${user}.crt`], ['MQTT_KEY_FILE', `${user}.key`]] as const) {
        assert.equal(mounted.get(environment[variable]!), `./certs/${file}`, `${service} ${variable}`);
      }
    }
    assert.ok(read('.gitignore').split('\n').includes('certs/'), 'certificates and keys stay out of git');
  });

  test('no service mounts the CA key, or the whole certificate directory; certificates are secrets, never bind mounts Docker could create', () => {
    for (const [name, service] of Object.entries(tls.services)) {
      assert.deepEqual(service.volumes ?? [], [], `${name}: certificate files come as secrets`);
      for (const { source, target } of service.secrets ?? []) {
        const file = tls.secrets?.[source]?.file ?? '';
        assert.doesNotMatch(file, /ca\.key/, name);
        assert.match(file, /^\.\/certs\/[^/]+\.(crt|key)$/, `${name}: ${source} is one file`);
        assert.match(target, /^\/(run|opt)\//, `${name}: ${source} at an absolute path`);
      }
    }
  });

  test('docker-compose config: every certificate is a secret file (a missing one is named by `up`, never made a directory)', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', '-f', 'docker-compose.tls.yml', 'config'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const merged = parse(result.stdout) as ComposeFile;
    for (const service of ['emqx', 'ingestor', 'simulator']) {
      const volumes = JSON.stringify(merged.services[service]?.volumes ?? []);
      assert.doesNotMatch(volumes, /certs/, `${service}: no bind mount of ./certs`);
      assert.equal(merged.services[service]?.secrets?.length, service === 'emqx' ? 4 : 3, service);
    }
    assert.deepEqual(Object.entries(merged.secrets ?? {}).filter(([name]) => name.startsWith('tls-')).map(([, secret]) => secret.file).sort(),
      ['ca.crt', 'gateway.crt', 'gateway.key', 'monitor.crt', 'monitor.key', 'server.crt', 'server.key', 'services-ca.crt'].map((file) => join(ROOT, 'certs', file)));
  });
});

describe('scripts/make-certs.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sensorflow-certs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]) => spawnSync('bash', [join(ROOT, 'scripts', 'make-certs.sh'), ...args], { cwd: ROOT, env: { ...process.env, CERTS_DIR: dir }, encoding: 'utf8' });
  const openssl = (...args: string[]): string => {
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  };

  const verifies = (ca: string, name: string): boolean => spawnSync('openssl', ['verify', '-CAfile', join(dir, ca), join(dir, `${name}.crt`)]).status === 0;

  test('two CAs, a server certificate for the compose host names, one client certificate per user with CN = user name', () => {
    const made = run();
    assert.equal(made.status, 0, made.stderr);
    // Devices (and servers) from ca.crt, the services from services-ca.crt, never the other way round:
    // 8883 trusts ca.crt alone and asks no password, 8884/8885 trust services-ca.crt alone.
    for (const [name, ca, other] of [['server', 'ca.crt', 'services-ca.crt'], ['dev-001', 'ca.crt', 'services-ca.crt'], ['monitor', 'services-ca.crt', 'ca.crt'], ['gateway', 'services-ca.crt', 'ca.crt']] as const) {
      assert.equal(verifies(ca, name), true, `${name} signed by ${ca}`);
      assert.equal(verifies(other, name), false, `${name} not trusted by ${other}`);
      assert.equal(statSync(join(dir, `${name}.key`)).mode & 0o077, 0, `${name}.key is private`);
    }
    for (const user of ['monitor', 'gateway', 'dev-001']) {
      assert.match(openssl('x509', '-in', join(dir, `${user}.crt`), '-noout', '-subject'), new RegExp(`CN ?= ?${user}\\n`), user);
      assert.match(openssl('x509', '-in', join(dir, `${user}.crt`), '-noout', '-ext', 'extendedKeyUsage'), /TLS Web Client Authentication/);
    }
    const server = openssl('x509', '-in', join(dir, 'server.crt'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage');
    assert.match(server, /DNS:emqx, DNS:emqx\.local, DNS:localhost, IP Address:127\.0\.0\.1/, 'the name the ingestor and simulator dial (emqx)');
    assert.match(server, /TLS Web Server Authentication/);
  });

  test('run again it keeps the CA and adds devices; a name that is not one topic level is refused before anything is written', () => {
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const again = run('dev-002');
    assert.equal(again.status, 0, again.stderr);
    assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), ca);
    assert.match(openssl('verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'dev-002.crt')), /: OK\n$/);
    const bad = run('lab/dev-3');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^make-certs: "lab\/dev-3": a user name is one topic level/m);
    assert.equal(existsSync(join(dir, 'lab')), false);
    for (const service of ['monitor', 'gateway', 'commander']) {
      const asDevice = run(service);
      assert.equal(asDevice.status, 2, `${service} is never issued from the devices' CA`);
      assert.match(asDevice.stderr, new RegExp(`^make-certs: "${service}" is a service, not a device`, 'm'));
    }
    assert.equal(verifies('ca.crt', 'monitor'), false);
  });

  test('a service certificate from the single-CA layout (signed by ca.crt) is issued anew from services-ca.crt', () => {
    // What an earlier make-certs.sh left: monitor.crt signed by the devices' CA.
    const key = join(dir, 'old-monitor.key');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key);
    openssl('req', '-new', '-key', key, '-out', join(dir, 'old.csr'), '-subj', '/CN=monitor');
    openssl('x509', '-req', '-in', join(dir, 'old.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-out', join(dir, 'monitor.crt'));
    assert.equal(verifies('ca.crt', 'monitor'), true);
    const again = run();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /monitor\.crt was not signed by services-ca\.crt: issuing it anew/);
    assert.equal(verifies('services-ca.crt', 'monitor'), true);
    assert.equal(verifies('ca.crt', 'monitor'), false);
  });
});
