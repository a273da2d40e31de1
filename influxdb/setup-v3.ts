/**
 * InfluxDB 3 setup (Core and Enterprise), through `/api/v3/configure/database`
 * with the admin token, read at influxdata/influxdb v3.10.1
 * (`influxdb3_server/src/http.rs`: `show_databases` l. 1769–1781, `create_database`
 * l. 1783–1796, `update_database` l. 1894–1923; bodies
 * `influxdb3_types/src/http.rs` l. 294–314, retention as a humantime duration).
 * Idempotent:
 *
 *   1. the database INFLUX_BUCKET (POST; 409 when it exists), with the
 *      retention INFLUX_RETENTION (PUT; no `retention_period` clears it);
 *   2. tokens: Core has admin tokens only (no database-scoped tokens, which
 *      are Enterprise's): the caller writes the admin token for the ingestor
 *      and Grafana and says so (docs/security.md#influxdb-3-tokens).
 *
 * A database name InfluxDB 3 refuses is refused before any request
 * (setup.ts, with ingestor/writer/influxdb3-rules.ts).
 */
import { requestText } from '../common/http-client.ts';
import type { Step } from './setup-v2.ts';
import { formatRetention } from './retention.ts';

export interface SetupV3Options {
  readonly url: string;
  readonly database: string;
  readonly retentionSeconds: number;
  readonly adminToken: string;
  readonly ca?: Buffer | undefined;
}

export class V3SetupError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A whole number of hours or days, as humantime reads it ("30d", "12h"); seconds otherwise. */
export function humantimeDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds}s`;
}

export async function setupV3(options: SetupV3Options): Promise<Step[]> {
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> => {
    const reply = await requestText(new URL(path, options.url), {
      method,
      headers: { authorization: `Bearer ${options.adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      timeoutMs: 30_000,
      ...(options.ca !== undefined && { ca: options.ca }),
    });
    if (reply.status === 401 || reply.status === 403) throw new V3SetupError(reply.status, `InfluxDB 3 refused INFLUX_ADMIN_TOKEN (${reply.status}): it must be an admin token (influxdb3 create token --admin)`);
    return reply;
  };
  const retention = options.retentionSeconds === 0 ? {} : { retention_period: humantimeDuration(options.retentionSeconds) };
  const what = `database ${options.database}`;
  const detail = `retention ${formatRetention(options.retentionSeconds)}`;

  const listed = await call('GET', '/api/v3/configure/database?format=json');
  if (listed.status !== 200) throw new V3SetupError(listed.status, `InfluxDB 3 answered ${listed.status} to GET /api/v3/configure/database: ${listed.text.slice(0, 200)}`);
  const rows = JSON.parse(listed.text === '' ? '[]' : listed.text) as Record<string, unknown>[];
  const exists = rows.some((row) => row['iox::database'] === options.database);
  if (!exists) {
    const created = await call('POST', '/api/v3/configure/database', { db: options.database, ...retention });
    if (created.status >= 200 && created.status < 300) return [{ what, outcome: 'created', detail }];
    if (created.status !== 409) throw new V3SetupError(created.status, `InfluxDB 3 refused to create ${what} (${created.status}): ${created.text.slice(0, 300)}`);
  }
  // Exists (or was created meanwhile): set the retention; PUT without retention_period clears it.
  const updated = await call('PUT', '/api/v3/configure/database', { db: options.database, ...retention });
  if (updated.status < 200 || updated.status >= 300) throw new V3SetupError(updated.status, `InfluxDB 3 refused to set the retention of ${what} (${updated.status}): ${updated.text.slice(0, 300)}`);
  return [{ what, outcome: 'found', detail: `${detail} (set)` }];
}
