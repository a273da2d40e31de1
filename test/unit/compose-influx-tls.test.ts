/**
 * https to InfluxDB in the compose stack (issue 19, defect 6):
 * docker-compose.influx-tls.yml on top of docker-compose.yml, InfluxDB's
 * certificate from scripts/make-certs.sh, and Grafana's data source over
 * https. InfluxDB cannot run here: the merged file is checked by
 * docker-compose itself, each service against the certificate names and the
 * CA it is given, and the certificate by openssl and a real TLS handshake
 * (Node) for the names the health check and the services dial.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
const SCHEMAS = join(ROOT, '..', 'shared', 'schemas');

interface Service { environment?: Record<string, string>; healthcheck?: { test?: string[] }; volumes?: unknown[]; secrets?: { source: string; target: string }[] }
type Compose = { services: Record<string, Service>; secrets: Record<string, { file: string }> };

function merged(...files: string[]): Compose {
  const result = spawnSync('docker-compose', [...files.flatMap((file) => ['-f', file]), 'config'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return parse(result.stdout) as Compose;
}

/** Where each secret lands in a service: target → host file. */
const secretsOf = (config: Compose, service: string): Map<string, string> =>
  new Map((config.services[service]?.secrets ?? []).map(({ source, target }) => [target, config.secrets[source]!.file]));

describe('docker-compose.influx-tls.yml', () => {
  test('InfluxDB serves its certificate; its health check dials localhost trusting our CA', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
    const config = merged('docker-compose.yml', 'docker-compose.influx-tls.yml');
    const influxdb = config.services.influxdb!;
    const mounted = secretsOf(config, 'influxdb');
    assert.equal(mounted.get(influxdb.environment!.INFLUXD_TLS_CERT!), join(ROOT, 'certs', 'influxdb.crt'));
    assert.equal(mounted.get(influxdb.environment!.INFLUXD_TLS_KEY!), join(ROOT, 'certs', 'influxdb.key'));
    const check = influxdb.healthcheck!.test!;
    assert.deepEqual(check.slice(0, 2), ['CMD', 'env']);
    const caFile = /^SSL_CERT_FILE=(.+)$/.exec(check[2]!)?.[1];
    assert.equal(mounted.get(caFile!), join(ROOT, 'certs', 'ca.crt'), 'the health check trusts the CA that signed the certificate');
    assert.deepEqual(check.slice(3), ['influx', 'ping', '--host', 'https://localhost:8086']);
    assert.ok(!JSON.stringify(config).includes('ca.key'), 'no container gets the CA key');
  });

  test('setup, the ingestor and Grafana dial https://influxdb:8086 with the CA mounted where they read it', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
    const config = merged('docker-compose.yml', 'docker-compose.influx-tls.yml');
    for (const service of ['setup', 'ingestor']) {
      const environment = config.services[service]!.environment!;
      assert.equal(environment.INFLUX_URL, 'https://influxdb:8086', service);
      assert.equal(secretsOf(config, service).get(environment.INFLUX_CA_FILE!), join(ROOT, 'certs', 'ca.crt'), service);
    }
    const grafana = config.services.grafana!;
    assert.equal(grafana.environment!.INFLUX_URL, 'https://influxdb:8086');
    assert.ok(JSON.stringify(grafana.volumes).includes('/etc/grafana/provisioning/datasources/influxdb.yaml'), 'the https data source replaces the plain one');
    const override = parse(read('grafana/influx-tls/influxdb.yaml')) as { datasources: { secureJsonData: Record<string, string> }[] };
    const caPath = /^\$__file\{(.+)\}$/.exec(override.datasources[0]!.secureJsonData.tlsCACert!)?.[1];
    assert.equal(secretsOf(config, 'grafana').get(caPath!), join(ROOT, 'certs', 'ca.crt'));
  });

  test('with docker-compose.tls.yml too, all three files merge, valid against the Compose Specification schema', { skip: !hasCompose && 'docker-compose is not installed' }, (t) => {
    const config = merged('docker-compose.yml', 'docker-compose.tls.yml', 'docker-compose.influx-tls.yml');
    if (existsSync(SCHEMAS)) {
      const { $schema: _draft, ...schema } = JSON.parse(readFileSync(join(SCHEMAS, 'compose', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
      const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
      assert.ok(validate(config), JSON.stringify(validate.errors, null, 2));
    } else {
      t.diagnostic('no ../shared/schemas: the schema check is skipped');
    }
    assert.equal(config.services.ingestor!.environment!.MQTT_URL, 'mqtts://emqx:8884');
    assert.equal(config.services.ingestor!.environment!.INFLUX_URL, 'https://influxdb:8086');
    assert.equal(config.services.ingestor!.secrets!.length, 4, 'MQTT CA, certificate and key, and the InfluxDB CA');
  });

  test('Grafana\'s https data source is the plain one plus the CA, nothing else', () => {
    const plain = parse(read('grafana/provisioning/datasources/influxdb.yaml')) as { datasources: Record<string, Record<string, unknown>>[] };
    const tls = parse(read('grafana/influx-tls/influxdb.yaml')) as typeof plain;
    const [source] = tls.datasources;
    assert.equal(source!.jsonData!.tlsAuthWithCACert, true);
    delete source!.jsonData!.tlsAuthWithCACert;
    delete source!.secureJsonData!.tlsCACert;
    assert.deepEqual(tls, plain);
  });
});

describe('scripts/make-certs.sh: InfluxDB\'s certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sensorflow-influx-certs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const made = spawnSync('bash', [join(ROOT, 'scripts', 'make-certs.sh')], { env: { PATH: process.env.PATH ?? '', CERTS_DIR: dir }, encoding: 'utf8' });
  const openssl = (...args: string[]): string => {
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  };

  test('signed by the CA, for influxdb (the services), localhost and 127.0.0.1 (the health check, the host)', () => {
    assert.equal(made.status, 0, made.stderr);
    const text = openssl('x509', '-in', join(dir, 'influxdb.crt'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage');
    assert.match(text, /DNS:influxdb, DNS:localhost, IP Address:127\.0\.0\.1/);
    assert.match(text, /TLS Web Server Authentication/);
    for (const host of ['influxdb', 'localhost']) assert.match(openssl('verify', '-CAfile', join(dir, 'ca.crt'), '-verify_hostname', host, join(dir, 'influxdb.crt')), /: OK\n$/, host);
  });

  test('INFLUX_CERT_HOSTS adds names to it', () => {
    const other = mkdtempSync(join(tmpdir(), 'sensorflow-influx-certs-'));
    try {
      const result = spawnSync('bash', [join(ROOT, 'scripts', 'make-certs.sh')], { env: { PATH: process.env.PATH ?? '', CERTS_DIR: other, INFLUX_CERT_HOSTS: 'DNS:influx.example.com' }, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      assert.match(openssl('x509', '-in', join(other, 'influxdb.crt'), '-noout', '-ext', 'subjectAltName'), /DNS:influxdb, DNS:localhost, IP Address:127\.0\.0\.1, DNS:influx\.example\.com/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  test('a TLS handshake with it: verified with the CA for each name dialled, refused without it (why the health check needs SSL_CERT_FILE)', async () => {
    const server = createServer({ cert: readFileSync(join(dir, 'influxdb.crt')), key: readFileSync(join(dir, 'influxdb.key')) }, (_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const handshake = (options: { servername: string; ca?: Buffer }): Promise<string> => new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ...options }, () => {
        resolve('verified');
        socket.end();
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    try {
      const ca = readFileSync(join(dir, 'ca.crt'));
      assert.equal(await handshake({ servername: 'localhost', ca }), 'verified');
      assert.equal(await handshake({ servername: 'influxdb', ca }), 'verified');
      assert.equal(await handshake({ servername: 'emqx', ca }), 'ERR_TLS_CERT_ALTNAME_INVALID');
      assert.equal(await handshake({ servername: 'localhost' }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
