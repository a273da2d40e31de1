/**
 * SENSORFLOW_ENV=production: every sensorflow service refuses to start while
 * a secret still holds one of the development defaults shipped in `.env`,
 * naming the variable. One shared list, so `.env` and the services cannot
 * drift apart (test/unit/stack-config.test.ts checks every secret in `.env`
 * is listed here).
 *
 * Pure apart from reading `NAME_FILE` files through the injected readFile.
 *
 * Usage (any entry point, before doing anything else):
 *
 *   refuseDevelopmentSecrets(process.env, ['MQTT_PASSWORD', 'INFLUX_TOKEN']);
 */
import { readFileSync } from 'node:fs';
import { ConfigError, read } from './config/schema.ts';
import { COMMON, ENVIRONMENTS, type SensorflowEnvironment } from './settings.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** The development values `.env` ships for its secrets. None may reach production. */
export const DEVELOPMENT_SECRETS: Readonly<Record<string, string>> = {
  MQTT_MONITOR_PASSWORD: 'monitor-dev-password',
  MQTT_GATEWAY_PASSWORD: 'gateway-dev-password',
  EMQX_DASHBOARD_PASSWORD: 'sensorflow-dev-password',
  EMQX_NODE_COOKIE: 'sensorflow-dev-cookie',
  INFLUX_ADMIN_PASSWORD: 'sensorflow-dev-password',
  INFLUX_ADMIN_TOKEN: 'sensorflow-dev-admin-token',
  INFLUX_CORE_ADMIN_TOKEN: 'apiv3_sensorflow-dev-admin-token',
  GRAFANA_ADMIN_PASSWORD: 'sensorflow-dev-password',
  NOTIFIER_TOKEN: 'notifier-dev-token',
};

const DEVELOPMENT_VALUES = new Set(Object.values(DEVELOPMENT_SECRETS));

export { ENVIRONMENTS, type SensorflowEnvironment };

export class ProductionSecretError extends Error {
  override readonly name = 'ProductionSecretError';
  constructor(readonly variable: string, message: string) {
    super(message);
  }
}

/** SENSORFLOW_ENV, validated: unset means development. */
export function environment(env: Env): SensorflowEnvironment {
  try {
    return read(env, COMMON.SENSORFLOW_ENV);
  } catch (error) {
    if (error instanceof ConfigError) throw new ProductionSecretError(error.variable, error.message);
    throw error;
  }
}

/** The value of NAME, or of the file NAME_FILE names; undefined when neither is set or the file is unreadable. */
function secretValue(env: Env, name: string, readFile: (path: string) => string): string | undefined {
  const direct = env[name];
  if (direct !== undefined && direct !== '') return direct;
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return undefined;
  try {
    return readFile(file).replace(/\r?\n$/, '');
  } catch {
    return undefined; // the service's own configuration reports an unreadable file
  }
}

/**
 * The first of `names` (secrets this service reads) that holds a development
 * default while SENSORFLOW_ENV=production, as an error naming it; undefined
 * when all is well or outside production.
 */
export function developmentSecretProblem(
  env: Env,
  names: readonly string[],
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): ProductionSecretError | undefined {
  let mode: SensorflowEnvironment;
  try {
    mode = environment(env);
  } catch (error) {
    return error as ProductionSecretError;
  }
  if (mode !== 'production') return undefined;
  for (const name of names) {
    const value = secretValue(env, name, readFile);
    if (value !== undefined && DEVELOPMENT_VALUES.has(value)) {
      const source = env[name] !== undefined && env[name] !== '' ? name : `${name}_FILE`;
      return new ProductionSecretError(
        source,
        `SENSORFLOW_ENV=production but ${source} holds a development default from .env: set a secret of your own (docs/installation.md, "Default credentials")`,
      );
    }
  }
  return undefined;
}

/** Exits 2 with one line on stderr when developmentSecretProblem() finds one. */
export function refuseDevelopmentSecrets(env: Env, names: readonly string[], program = 'sensorflow'): void {
  const problem = developmentSecretProblem(env, names);
  if (problem === undefined) return;
  process.stderr.write(`${program}: refusing to start: ${problem.message}\n`);
  process.exit(2);
}
