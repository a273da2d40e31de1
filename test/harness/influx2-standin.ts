/**
 * A stand-in for InfluxDB 2's management API, for `npm run setup` tests
 * (InfluxDB 2 cannot run on the development machines). It checks what the
 * real server checks for the endpoints setup uses, as documented in
 * InfluxDB 2's OpenAPI (the shapes are the client's generated types):
 *
 * - every request carries `Authorization: Token <operator token>` (401 otherwise);
 * - POST/PATCH bodies are JSON with the required fields: PostBucketRequest
 *   (orgID, name; retention 0 or ≥ 1 h), PatchBucketRequest,
 *   AuthorizationPostRequest (orgID, ≥ 1 permission, action read|write, a known
 *   resource type, ids that exist), DBRPCreate (orgID or org, bucketID,
 *   database, retention_policy); GET /api/v2/dbrps needs orgID or org;
 * - unknown routes are 404, wrong methods 405.
 *
 * State lives in memory; `requests` records every call for assertions.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type {
  Authorization,
  AuthorizationPostRequest,
  Bucket,
  DBRP,
  DBRPCreate,
  Organization,
  PatchBucketRequest,
  Permission,
  PostBucketRequest,
} from '@influxdata/influxdb-client-apis';

const RESOURCE_TYPES = new Set<Permission['resource']['type']>([
  'authorizations', 'buckets', 'dashboards', 'orgs', 'sources', 'tasks', 'telegrafs', 'users', 'variables', 'scrapers', 'secrets', 'labels', 'views',
  'documents', 'notificationRules', 'notificationEndpoints', 'checks', 'dbrp', 'notebooks', 'annotations', 'remotes', 'replications', 'instance', 'flows', 'functions',
]);

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: unknown;
}

export interface Influx2StandIn {
  readonly url: string;
  readonly operatorToken: string;
  readonly requests: RecordedRequest[];
  readonly orgs: Organization[];
  readonly buckets: Bucket[];
  readonly authorizations: Authorization[];
  readonly dbrps: DBRP[];
  /** Answer GET /api/v2/dbrps with a virtual mapping for each bucket that has none (InfluxDB 2.4+). */
  virtualDbrps: boolean;
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const id = (): string => randomBytes(8).toString('hex');

function requireString(body: Record<string, unknown>, field: string, what: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw new ApiError(400, 'invalid', `${what}: ${field} is required`);
  return value;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  if (!(request.headers['content-type'] ?? '').startsWith('application/json')) throw new ApiError(415, 'unsupported media type', 'expected application/json');
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid', 'malformed JSON');
  }
}

/** `tls`: serve https with this certificate (test/harness/certs.ts), as InfluxDB 2 does with INFLUXD_TLS_CERT / INFLUXD_TLS_KEY. */
export async function startInflux2StandIn(seed: { org?: string; bucket?: string; retentionSeconds?: number; tls?: { cert: string; key: string } } = {}): Promise<Influx2StandIn> {
  const operatorToken = `operator-${id()}`;
  const state = {
    requests: [] as RecordedRequest[],
    orgs: [] as Organization[],
    buckets: [] as Bucket[],
    authorizations: [] as Authorization[],
    dbrps: [] as DBRP[],
    virtualDbrps: false,
  };
  // What DOCKER_INFLUXDB_INIT_* leaves behind: the org and its first bucket.
  if (seed.org !== undefined) {
    const org = { id: id(), name: seed.org };
    state.orgs.push(org);
    if (seed.bucket !== undefined) {
      state.buckets.push({ id: id(), orgID: org.id, name: seed.bucket, type: 'user', retentionRules: [{ type: 'expire', everySeconds: seed.retentionSeconds ?? 0 }] });
    }
  }

  const orgExists = (orgID: unknown): boolean => state.orgs.some((org) => org.id === orgID);

  const handle = (method: string, path: string, query: Record<string, string>, body: unknown): [number, unknown] => {
    if (path === '/ping' && method === 'GET') return [204, undefined];
    if (path === '/api/v2/orgs') {
      if (method === 'GET') return [200, { orgs: state.orgs.filter((org) => query.org === undefined || org.name === query.org) }];
      if (method === 'POST') {
        const name = requireString((body ?? {}) as Record<string, unknown>, 'name', 'PostOrganizationRequest');
        if (state.orgs.some((org) => org.name === name)) throw new ApiError(422, 'conflict', `organization with name ${name} already exists`);
        const org = { id: id(), name };
        state.orgs.push(org);
        return [201, org];
      }
    }
    if (path === '/api/v2/buckets') {
      if (method === 'GET') {
        if (query.orgID !== undefined && !orgExists(query.orgID)) throw new ApiError(404, 'not found', 'organization not found');
        return [200, { buckets: state.buckets.filter((b) => (query.orgID === undefined || b.orgID === query.orgID) && (query.name === undefined || b.name === query.name)) }];
      }
      if (method === 'POST') {
        const request = (body ?? {}) as PostBucketRequest & Record<string, unknown>;
        const orgID = requireString(request, 'orgID', 'PostBucketRequest');
        const name = requireString(request, 'name', 'PostBucketRequest');
        if (!orgExists(orgID)) throw new ApiError(404, 'not found', 'organization not found');
        if (state.buckets.some((b) => b.orgID === orgID && b.name === name)) throw new ApiError(422, 'conflict', `bucket with name ${name} already exists`);
        const rules = request.retentionRules ?? [];
        for (const rule of rules) {
          if (typeof rule.everySeconds !== 'number' || (rule.everySeconds !== 0 && rule.everySeconds < 3600)) throw new ApiError(422, 'unprocessable entity', 'expiration seconds must be greater than or equal to one hour');
        }
        const bucket: Bucket = { id: id(), orgID, name, type: 'user', retentionRules: rules };
        state.buckets.push(bucket);
        return [201, bucket];
      }
    }
    const bucketMatch = /^\/api\/v2\/buckets\/([^/]+)$/.exec(path);
    if (bucketMatch !== null && method === 'PATCH') {
      const bucket = state.buckets.find((b) => b.id === bucketMatch[1]);
      if (bucket === undefined) throw new ApiError(404, 'not found', 'bucket not found');
      const patch = (body ?? {}) as PatchBucketRequest;
      for (const rule of patch.retentionRules ?? []) {
        if (typeof rule.everySeconds !== 'number' || (rule.everySeconds !== 0 && rule.everySeconds < 3600)) throw new ApiError(422, 'unprocessable entity', 'expiration seconds must be greater than or equal to one hour');
      }
      if (patch.retentionRules !== undefined) bucket.retentionRules = patch.retentionRules.map((rule) => ({ type: 'expire', everySeconds: rule.everySeconds }));
      if (patch.name !== undefined) bucket.name = patch.name;
      return [200, bucket];
    }
    if (path === '/api/v2/authorizations') {
      if (method === 'GET') return [200, { authorizations: state.authorizations.filter((a) => query.orgID === undefined || a.orgID === query.orgID) }];
      if (method === 'POST') {
        const request = (body ?? {}) as AuthorizationPostRequest & Record<string, unknown>;
        const orgID = requireString(request, 'orgID', 'AuthorizationPostRequest');
        if (!orgExists(orgID)) throw new ApiError(400, 'invalid', 'organization not found');
        const permissions = request.permissions;
        if (!Array.isArray(permissions) || permissions.length === 0) throw new ApiError(400, 'invalid', 'authorization must have at least one permission');
        for (const permission of permissions) {
          if (permission.action !== 'read' && permission.action !== 'write') throw new ApiError(400, 'invalid', `unknown action ${String(permission.action)}`);
          if (!RESOURCE_TYPES.has(permission.resource?.type)) throw new ApiError(400, 'invalid', `unknown resource type ${String(permission.resource?.type)}`);
          if (permission.resource.type === 'buckets' && permission.resource.id !== undefined && !state.buckets.some((b) => b.id === permission.resource.id)) {
            throw new ApiError(400, 'invalid', 'bucket in permission not found');
          }
        }
        const authorization: Authorization = {
          id: id(), orgID, description: request.description, status: request.status ?? 'active', permissions, token: `${id()}${id()}==`,
        };
        state.authorizations.push(authorization);
        return [201, authorization];
      }
    }
    const authMatch = /^\/api\/v2\/authorizations\/([^/]+)$/.exec(path);
    if (authMatch !== null && method === 'DELETE') {
      const index = state.authorizations.findIndex((a) => a.id === authMatch[1]);
      if (index < 0) throw new ApiError(404, 'not found', 'authorization not found');
      state.authorizations.splice(index, 1);
      return [204, undefined];
    }
    if (path === '/api/v2/dbrps') {
      if (method === 'GET') {
        if (query.orgID === undefined && query.org === undefined) throw new ApiError(400, 'invalid', 'either "org" or "orgID" must be provided');
        const orgID = query.orgID ?? state.orgs.find((org) => org.name === query.org)?.id;
        let mappings = state.dbrps.filter((m) => m.orgID === orgID);
        if (state.virtualDbrps) {
          for (const bucket of state.buckets.filter((b) => b.orgID === orgID && !mappings.some((m) => m.bucketID === b.id))) {
            mappings = [...mappings, { id: bucket.id!, orgID: orgID!, bucketID: bucket.id!, database: bucket.name, retention_policy: 'autogen', default: true, virtual: true }];
          }
        }
        return [200, { content: mappings.filter((m) => query.db === undefined || m.database === query.db) }];
      }
      if (method === 'POST') {
        const request = (body ?? {}) as DBRPCreate & Record<string, unknown>;
        const orgID = request.orgID ?? state.orgs.find((org) => org.name === request.org)?.id;
        if (orgID === undefined || !orgExists(orgID)) throw new ApiError(400, 'invalid', 'either "org" or "orgID" must be provided');
        const bucketID = requireString(request, 'bucketID', 'DBRPCreate');
        const database = requireString(request, 'database', 'DBRPCreate');
        const retentionPolicy = requireString(request, 'retention_policy', 'DBRPCreate');
        if (!state.buckets.some((b) => b.id === bucketID && b.orgID === orgID)) throw new ApiError(404, 'not found', 'bucket not found');
        if (state.dbrps.some((m) => m.orgID === orgID && m.database === database && m.retention_policy === retentionPolicy)) throw new ApiError(409, 'conflict', 'dbrp already exists');
        const mapping: DBRP = { id: id(), orgID, bucketID, database, retention_policy: retentionPolicy, default: request.default ?? false, virtual: false };
        state.dbrps.push(mapping);
        return [201, { content: mapping }];
      }
    }
    if (['/ping', '/api/v2/orgs', '/api/v2/buckets', '/api/v2/authorizations', '/api/v2/dbrps'].includes(path) || bucketMatch !== null || authMatch !== null) {
      throw new ApiError(405, 'method not allowed', `${method} ${path}`);
    }
    throw new ApiError(404, 'not found', `path not found: ${path}`);
  };

  const serve = (request: IncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://standin');
    const query = Object.fromEntries(url.searchParams);
    void (async () => {
      let status: number;
      let payload: unknown;
      try {
        const body = await readJson(request);
        state.requests.push({ method: request.method ?? 'GET', path: url.pathname, query, body });
        if (url.pathname !== '/ping' && request.headers.authorization !== `Token ${operatorToken}`) {
          throw new ApiError(401, 'unauthorized', 'unauthorized access');
        }
        [status, payload] = handle(request.method ?? 'GET', url.pathname, query, body);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        [status, payload] = [error.status, { code: error.code, message: error.message }];
      }
      if (payload === undefined) response.writeHead(status).end();
      else response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(payload));
    })();
  };
  const server: Server = seed.tls === undefined ? createServer(serve) : createTlsServer({ cert: readFileSync(seed.tls.cert), key: readFileSync(seed.tls.key) }, serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return Object.assign(state, {
    url: `${seed.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    operatorToken,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
