/**
 * The compose stack and Grafana provisioning cannot run here (no Docker
 * engine, no image pulls); they are checked against their documented formats:
 * the Compose Specification schema from ../shared/schemas (when present) and
 * the contracts the rest of the repo relies on.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const SCHEMAS = join(ROOT, '..', 'shared', 'schemas');

function envFile(): Record<string, string> {
  const entries = readFileSync(join(ROOT, '.env'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]);
  return Object.fromEntries(entries);
}

type Compose = { services: Record<string, { environment?: Record<string, string>; ports?: string[]; image?: string; build?: string }> };
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as Compose;

describe('docker-compose.yml', () => {
  test('is valid against the Compose Specification schema', { skip: !existsSync(SCHEMAS) && 'no ../shared/schemas' }, () => {
    const { $schema: _draft07, ...schema } = JSON.parse(readFileSync(join(SCHEMAS, 'compose', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
  });

  test('has the whole stack', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['emqx', 'grafana', 'influxdb', 'ingestor', 'simulator']);
  });

  test('every ${VAR} it uses is defined in .env', () => {
    const defined = envFile();
    const used = [...readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1] as string);
    assert.ok(used.length > 0);
    for (const name of used) assert.ok(name in defined, `${name} is used by docker-compose.yml but not set in .env`);
  });

  test('only MQTT is published beyond loopback', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const port of service.ports ?? []) {
        if (port !== '1883:1883') assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port}`);
      }
    }
  });

  test('the ingestor is configured only with names the config module knows', async () => {
    const { DEFAULTS } = await import('../../ingestor/config.ts');
    const known = new Set([...Object.keys(DEFAULTS), 'MQTT_TOPICS', 'MQTT_USERNAME', 'MQTT_PASSWORD', 'MQTT_CLIENT_ID', 'MQTT_SHARED_GROUP', 'MQTT_CA_FILE', 'MQTT_CERT_FILE', 'MQTT_KEY_FILE', 'INFLUX_TOKEN', 'INFLUX_USERNAME', 'INFLUX_PASSWORD']);
    for (const name of Object.keys(compose.services.ingestor?.environment ?? {})) assert.ok(known.has(name), name);
  });
});

describe('grafana provisioning', () => {
  test('the InfluxDB data source is InfluxQL with a fixed uid and the token from the environment', () => {
    const file = parse(readFileSync(join(ROOT, 'grafana', 'provisioning', 'datasources', 'influxdb.yaml'), 'utf8')) as {
      apiVersion: number;
      datasources: { uid: string; type: string; jsonData: Record<string, string>; secureJsonData: Record<string, string> }[];
    };
    assert.equal(file.apiVersion, 1);
    const [source] = file.datasources;
    assert.equal(source?.uid, 'sensorflow-influxdb');
    assert.equal(source?.type, 'influxdb');
    assert.equal(source?.jsonData.version, 'InfluxQL');
    assert.equal(source?.jsonData.httpHeaderName1, 'Authorization');
    assert.equal(source?.secureJsonData.httpHeaderValue1, 'Token $INFLUX_TOKEN');
  });
});
