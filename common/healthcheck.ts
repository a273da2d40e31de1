/**
 * The image's HEALTHCHECK (one image, several services; compose says which check):
 *
 * - HTTP (the ingestor, the notifier): healthy when the service's /healthz
 *   answers 2xx within 4 s. Which URL: HEALTHCHECK_URL if set, else the one
 *   the service's own port and host settings give (common/healthcheck-target.ts).
 * - HEALTHCHECK_MQTT=true (the simulator, which has no HTTP server): healthy
 *   when the broker at MQTT_URL accepts MQTT_USERNAME / MQTT_PASSWORD, i.e.
 *   the simulator's devices can connect; a fresh client id, so no device's
 *   session is touched. With mqtts://, MQTT_CA_FILE, MQTT_CERT_FILE and
 *   MQTT_KEY_FILE are used as the simulator uses them.
 *
 * Exit 0 healthy, 1 not (one line on stderr saying why).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { healthcheckTarget } from './healthcheck-target.ts';

const TIMEOUT_MS = 4000;

async function httpHealthy(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.ok ? undefined : `${url} answered ${response.status}`;
  } catch (error) {
    return `${url}: ${(error as Error).message}`;
  }
}

/** A PEM file named by a variable, or undefined when it is not set. */
const pem = (name: string): Buffer | undefined => (process.env[name] ? readFileSync(process.env[name]) : undefined);

async function mqttHealthy(url: string, username: string | undefined, password: string | undefined): Promise<string | undefined> {
  try {
    const client = await connectAsync(url, {
      ca: pem('MQTT_CA_FILE'),
      cert: pem('MQTT_CERT_FILE'),
      key: pem('MQTT_KEY_FILE'),
      clientId: `${username ?? 'anonymous'}-healthcheck-${randomBytes(4).toString('hex')}`,
      username,
      password,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT_MS,
    });
    await client.endAsync();
    return undefined;
  } catch (error) {
    return `${url}: ${(error as Error).message}`;
  }
}

const target = healthcheckTarget(process.env);
const problem = target.kind === 'mqtt'
  ? await mqttHealthy(process.env.MQTT_URL ?? 'mqtt://localhost:1883', process.env.MQTT_USERNAME || undefined, process.env.MQTT_PASSWORD || undefined)
  : target.kind === 'http' ? await httpHealthy(target.url) : target.problem;
if (problem !== undefined) {
  process.stderr.write(`unhealthy: ${problem}\n`);
  process.exit(1);
}
process.exit(0);
