/**
 * InfluxDB 2 setup through its management API (@influxdata/influxdb-client-apis),
 * with the operator (admin) token. Idempotent: each step finds what is there
 * and changes only what differs.
 *
 *   1. the organization INFLUX_ORG (created by DOCKER_INFLUXDB_INIT_* in compose)
 *   2. the bucket INFLUX_BUCKET with the retention INFLUX_RETENTION
 *   3. a write-only token for the ingestor and a read-only token for Grafana,
 *      each scoped to that one bucket (never the admin token)
 *   4. the InfluxQL mapping (DBRP) database INFLUX_BUCKET → the bucket, which
 *      the dashboards and alert rules query
 */
import type { InfluxDB } from '@influxdata/influxdb-client';
import {
  AuthorizationsAPI,
  BucketsAPI,
  DbrpsAPI,
  OrgsAPI,
  type Authorization,
  type Bucket,
  type Permission,
} from '@influxdata/influxdb-client-apis';
import { formatRetention } from './retention.ts';

export interface SetupV2Options {
  readonly org: string;
  readonly bucket: string;
  readonly retentionSeconds: number;
}

export type Outcome = 'found' | 'created' | 'changed';

export interface Step {
  readonly what: string;
  readonly outcome: Outcome;
  readonly detail: string;
}

export interface TokenGrant {
  /** Who uses it: `ingestor` (write) or `grafana` (read). */
  readonly user: 'ingestor' | 'grafana';
  readonly token: string;
}

export interface SetupV2Result {
  readonly steps: readonly Step[];
  readonly tokens: readonly TokenGrant[];
}

/** Descriptions mark our tokens, so a later run finds them instead of piling up new ones. */
export const tokenDescription = (user: TokenGrant['user'], bucket: string): string =>
  user === 'ingestor' ? `sensorflow ingestor: write ${bucket}` : `sensorflow grafana: read ${bucket}`;

function permissionsFor(user: TokenGrant['user'], orgID: string, bucketID: string): Permission[] {
  return [{ action: user === 'ingestor' ? 'write' : 'read', resource: { type: 'buckets', id: bucketID, orgID } }];
}

/** Exactly these permissions, nothing more. */
function samePermissions(actual: readonly Permission[] | undefined, expected: readonly Permission[]): boolean {
  if (actual === undefined || actual.length !== expected.length) return false;
  return expected.every((want) =>
    actual.some((have) => have.action === want.action && have.resource.type === want.resource.type && have.resource.id === want.resource.id && have.resource.orgID === want.resource.orgID),
  );
}

function retentionOf(bucket: Bucket): number {
  return bucket.retentionRules.find((rule) => rule.type === undefined || rule.type === 'expire')?.everySeconds ?? 0;
}

export async function setupV2(influx: InfluxDB, options: SetupV2Options): Promise<SetupV2Result> {
  const orgs = new OrgsAPI(influx);
  const buckets = new BucketsAPI(influx);
  const authorizations = new AuthorizationsAPI(influx);
  const dbrps = new DbrpsAPI(influx);
  const steps: Step[] = [];

  // 1. Organization.
  const foundOrg = (await orgs.getOrgs({ org: options.org })).orgs?.find((org) => org.name === options.org);
  let orgID: string;
  if (foundOrg?.id !== undefined) {
    orgID = foundOrg.id;
    steps.push({ what: `organization ${options.org}`, outcome: 'found', detail: `id ${orgID}` });
  } else {
    const created = await orgs.postOrgs({ body: { name: options.org, description: 'sensorflow' } });
    orgID = created.id!;
    steps.push({ what: `organization ${options.org}`, outcome: 'created', detail: `id ${orgID}` });
  }

  // 2. Bucket and its retention.
  const wantRetention = formatRetention(options.retentionSeconds);
  const foundBucket = (await buckets.getBuckets({ orgID, name: options.bucket })).buckets?.find((bucket) => bucket.name === options.bucket);
  let bucketID: string;
  if (foundBucket?.id === undefined) {
    const created = await buckets.postBuckets({
      body: { orgID, name: options.bucket, retentionRules: [{ type: 'expire', everySeconds: options.retentionSeconds }] },
    });
    bucketID = created.id!;
    steps.push({ what: `bucket ${options.bucket}`, outcome: 'created', detail: `retention ${wantRetention}` });
  } else {
    bucketID = foundBucket.id;
    const had = retentionOf(foundBucket);
    if (had === options.retentionSeconds) {
      steps.push({ what: `bucket ${options.bucket}`, outcome: 'found', detail: `retention ${wantRetention}` });
    } else {
      await buckets.patchBucketsID({ bucketID, body: { retentionRules: [{ type: 'expire', everySeconds: options.retentionSeconds }] } });
      steps.push({ what: `bucket ${options.bucket}`, outcome: 'changed', detail: `retention ${formatRetention(had)} → ${wantRetention}` });
    }
  }

  // 3. Scoped tokens.
  const existing = (await authorizations.getAuthorizations({ orgID })).authorizations ?? [];
  const tokens: TokenGrant[] = [];
  for (const user of ['ingestor', 'grafana'] as const) {
    const description = tokenDescription(user, options.bucket);
    const permissions = permissionsFor(user, orgID, bucketID);
    const ours = existing.filter((auth) => auth.description === description);
    const usable = ours.find((auth): auth is Authorization & { token: string } =>
      auth.status !== 'inactive' && typeof auth.token === 'string' && samePermissions(auth.permissions, permissions));
    const scope = `${permissions[0]!.action}-only, bucket ${options.bucket}`;
    if (usable !== undefined) {
      tokens.push({ user, token: usable.token });
      steps.push({ what: `${user} token`, outcome: 'found', detail: scope });
      continue;
    }
    const created = await authorizations.postAuthorizations({ body: { orgID, description, status: 'active', permissions } });
    if (typeof created.token !== 'string') throw new Error(`InfluxDB created the ${user} token but did not return it`);
    tokens.push({ user, token: created.token });
    // Tokens of ours that no longer fit (another bucket id, inactive) go.
    for (const stale of ours) if (stale.id !== undefined) await authorizations.deleteAuthorizationsID({ authID: stale.id });
    steps.push({ what: `${user} token`, outcome: 'created', detail: `${scope}${ours.length > 0 ? `; ${ours.length} outdated one(s) deleted` : ''}` });
  }

  // 4. InfluxQL mapping: database = bucket name.
  const mappings = (await dbrps.getDBRPs({ orgID, db: options.bucket })).content ?? [];
  const mapping = mappings.find((dbrp) => dbrp.bucketID === bucketID && dbrp.database === options.bucket);
  if (mapping !== undefined) {
    steps.push({ what: `InfluxQL mapping ${options.bucket}/${mapping.retention_policy}`, outcome: 'found', detail: mapping.virtual === true ? 'virtual' : 'explicit' });
  } else {
    await dbrps.postDBRP({ body: { orgID, bucketID, database: options.bucket, retention_policy: 'autogen', default: true } });
    steps.push({ what: `InfluxQL mapping ${options.bucket}/autogen`, outcome: 'created', detail: `→ bucket ${options.bucket}` });
  }

  return { steps, tokens };
}
