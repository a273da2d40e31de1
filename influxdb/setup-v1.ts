/**
 * InfluxDB 1.x setup (what `npm run stack` and edge gateways run): the parts
 * of the v2 setup that 1.x has. The database INFLUX_BUCKET and the retention
 * of its default policy `autogen`; 1.x has no tokens and no DBRP mappings
 * (the database is queried directly). Idempotent, over InfluxQL on /query.
 */
import { requestText } from '../common/http-client.ts';
import type { Step } from './setup-v2.ts';
import { formatRetention, influxqlDuration, parseGoDuration } from './retention.ts';

export interface SetupV1Options {
  readonly url: string;
  readonly database: string;
  readonly retentionSeconds: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** INFLUX_CA_FILE's certificates for an https:// url. */
  readonly ca?: Buffer | undefined;
}

interface QueryResult {
  results?: { error?: string; series?: { columns: string[]; values: unknown[][] }[] }[];
  error?: string;
}

/** Each statement is small; InfluxDB answers at once or is in trouble. */
const QUERY_TIMEOUT_MS = 30_000;

/** InfluxQL identifiers: always double-quoted, quotes and backslashes escaped. */
export const quoteIdentifier = (name: string): string => `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

async function influxql(options: SetupV1Options, statement: string): Promise<QueryResult> {
  const body = new URLSearchParams({ q: statement });
  const headers: Record<string, string> = {};
  if (options.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  headers['content-type'] = 'application/x-www-form-urlencoded';
  const response = await requestText(new URL('/query', options.url), { method: 'POST', body: body.toString(), headers, timeoutMs: QUERY_TIMEOUT_MS, ...(options.ca !== undefined && { ca: options.ca }) });
  const text = response.text;
  const ok = response.status >= 200 && response.status < 300;
  let parsed: QueryResult;
  try {
    parsed = JSON.parse(text) as QueryResult;
  } catch {
    throw new Error(`InfluxDB answered ${response.status} to ${statement}: ${text.slice(0, 200)}`);
  }
  const error = parsed.error ?? parsed.results?.find((result) => result.error !== undefined)?.error;
  if (!ok || error !== undefined) throw new Error(`InfluxDB refused ${statement}: ${error ?? response.status}`);
  return parsed;
}

/** InfluxDB's default shard group duration for a retention period. */
export function shardDuration(retentionSeconds: number): string {
  if (retentionSeconds === 0 || retentionSeconds > 180 * 86_400) return '168h';
  return retentionSeconds < 2 * 86_400 ? '1h' : '24h';
}

export async function setupV1(options: SetupV1Options): Promise<Step[]> {
  const steps: Step[] = [];
  const db = quoteIdentifier(options.database);
  const want = influxqlDuration(options.retentionSeconds);

  const databases = await influxql(options, 'SHOW DATABASES');
  const names = (databases.results?.[0]?.series?.[0]?.values ?? []).map((row) => row[0]);
  if (!names.includes(options.database)) {
    await influxql(options, `CREATE DATABASE ${db} WITH DURATION ${want} NAME "autogen"`);
    steps.push({ what: `database ${options.database}`, outcome: 'created', detail: `retention ${formatRetention(options.retentionSeconds)}` });
    return steps;
  }

  const policies = await influxql(options, `SHOW RETENTION POLICIES ON ${db}`);
  const series = policies.results?.[0]?.series?.[0];
  const column = (name: string): number => series?.columns.indexOf(name) ?? -1;
  const defaultPolicy = series?.values.find((row) => row[column('default')] === true);
  const cell = (row: unknown[] | undefined, name: string): string | undefined => {
    const value = row?.[column(name)];
    return typeof value === 'string' ? value : undefined;
  };
  const policyName = cell(defaultPolicy, 'name') ?? 'autogen';
  const duration = cell(defaultPolicy, 'duration');
  const had = duration === undefined ? undefined : parseGoDuration(duration);
  if (had === options.retentionSeconds) {
    steps.push({ what: `database ${options.database}`, outcome: 'found', detail: `retention ${formatRetention(had)} (policy ${policyName})` });
  } else if (defaultPolicy === undefined) {
    await influxql(options, `CREATE RETENTION POLICY "autogen" ON ${db} DURATION ${want} REPLICATION 1 DEFAULT`);
    steps.push({ what: `database ${options.database}`, outcome: 'changed', detail: `default retention policy autogen created, ${formatRetention(options.retentionSeconds)}` });
  } else {
    // A policy's shard groups must not outlast it: set InfluxDB's own default for the new duration.
    await influxql(options, `ALTER RETENTION POLICY ${quoteIdentifier(policyName)} ON ${db} DURATION ${want} SHARD DURATION ${shardDuration(options.retentionSeconds)} DEFAULT`);
    steps.push({ what: `database ${options.database}`, outcome: 'changed', detail: `retention ${formatRetention(had ?? 0)} → ${formatRetention(options.retentionSeconds)} (policy ${policyName})` });
  }
  return steps;
}
