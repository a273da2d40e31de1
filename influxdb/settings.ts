/** `npm run setup`'s environment variables (influxdb/setup.ts). */
import { integer, oneOf, path } from '../common/config/parsers.ts';
import { optional, required, secretNames, ValueProblem, type Parser, type Schema } from '../common/config/schema.ts';
import { INGESTOR } from '../ingestor/settings.ts';
import { parseRetention, RetentionError } from './retention.ts';

/** INFLUX_RETENTION in seconds, 0 for infinite. */
export const retention: Parser<number> = (raw) => {
  try {
    return parseRetention(raw);
  } catch (error) {
    if (error instanceof RetentionError) throw new ValueProblem(error.message);
    throw error;
  }
};

export const SETUP = {
  INFLUX_API: required({ name: 'INFLUX_API', parse: oneOf(['v2', 'v1', 'v3'] as const, 'expected v2 (InfluxDB 2), v1 (InfluxDB 1.x) or v3 (InfluxDB 3)'), default: 'v2', doc: '`v2`: organization, bucket, scoped tokens, InfluxQL mapping; `v1`: the database and its retention; `v3`: the database and its retention (Core has admin tokens only)' }),
  INFLUX_URL: INGESTOR.INFLUX_URL,
  INFLUX_CA_FILE: INGESTOR.INFLUX_CA_FILE,
  INFLUX_ORG: INGESTOR.INFLUX_ORG,
  INFLUX_BUCKET: INGESTOR.INFLUX_BUCKET,
  INFLUX_RETENTION: required({ name: 'INFLUX_RETENTION', parse: retention, default: '30d', doc: 'how long InfluxDB keeps data (`30d`, `12h`, `2w`; `0` or `infinite` keeps everything; at least `1h`)' }),
  INFLUX_ADMIN_TOKEN: optional({ name: 'INFLUX_ADMIN_TOKEN', parse: (raw) => raw, secret: true, defaultDoc: 'required with `v2` and `v3`', doc: 'the InfluxDB 2 operator token (`DOCKER_INFLUXDB_INIT_ADMIN_TOKEN` in compose), or an InfluxDB 3 admin token; only setup gets it' }),
  INFLUX_USERNAME: INGESTOR.INFLUX_USERNAME,
  INFLUX_PASSWORD: INGESTOR.INFLUX_PASSWORD,
  SETUP_TOKEN_DIR: required({ name: 'SETUP_TOKEN_DIR', parse: path, default: 'data/tokens', doc: 'where the ingestor\'s write token and Grafana\'s read token are written (v2)' }),
  SETUP_WAIT_S: required({ name: 'SETUP_WAIT_S', parse: integer(0, 3600, 'expected a whole number of seconds from 0 to 3600'), default: '60', doc: 'how long to wait for InfluxDB to answer `/ping`' }),
} as const;

export const SETUP_SCHEMA: Schema = { program: 'InfluxDB setup (`npm run setup`)', variables: Object.values(SETUP) };

/**
 * What SENSORFLOW_ENV=production checks before setup runs: its own secrets, and
 * the InfluxDB and Grafana admin passwords compose hands it only to be checked
 * (setup runs before either service is used).
 */
export const SETUP_REFUSES = [...secretNames(SETUP_SCHEMA), 'INFLUX_ADMIN_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'];
