/** The development broker's environment variables (npm run broker). */
import { listenAddress, matching, path, port } from '../../common/config/parsers.ts';
import { read, required, type Env, type Schema } from '../../common/config/schema.ts';
import { LOG_LEVEL, type LogLevel } from '../../common/settings.ts';

export const BROKER = {
  BROKER_HOST: required({ name: 'BROKER_HOST', parse: listenAddress(), default: '127.0.0.1', doc: 'address the development broker listens on' }),
  BROKER_PORT: required({ name: 'BROKER_PORT', parse: port(0), default: '1883', doc: 'its MQTT port; `0` picks a free one (logged)' }),
  BROKER_NODE: required({
    name: 'BROKER_NODE',
    parse: matching(/^[^/+#\s]+$/, 'expected a node name without "/", "+", "#" or spaces, such as sensorflow-dev@127.0.0.1'),
    default: 'sensorflow-dev@127.0.0.1',
    doc: 'the node name in its EMQX presence topics (`$SYS/brokers/{node}/clients/…`)',
  }),
  BROKER_USERS_FILE: required({ name: 'BROKER_USERS_FILE', parse: path, default: 'broker/dev/users.yaml', doc: 'users, passwords and roles (YAML)' }),
  LOG_LEVEL,
} as const;

export const BROKER_SCHEMA: Schema = { program: 'development broker (`npm run broker`)', variables: Object.values(BROKER) };

export interface BrokerConfig {
  readonly host: string;
  readonly port: number;
  readonly node: string;
  readonly usersFile: string;
  readonly logLevel: LogLevel;
}

/** Throws ConfigError naming the variable. */
export function loadBrokerConfig(env: Env): BrokerConfig {
  return {
    host: read(env, BROKER.BROKER_HOST),
    port: read(env, BROKER.BROKER_PORT),
    node: read(env, BROKER.BROKER_NODE),
    usersFile: read(env, BROKER.BROKER_USERS_FILE),
    logLevel: read(env, BROKER.LOG_LEVEL),
  };
}
