/**
 * The routes file (ROUTES_FILE, YAML) → routes, checked at start-up. Every
 * error names the route and the problem. Pure. See ingestor/routes.sample.yaml
 * for every option with its default.
 */
import { parse } from 'yaml';
import { FIELD_TYPES, type FieldType } from './field-types.ts';
import { FORMATS, LP_PRECISIONS, type Format, type LpPrecision, type Route, type ValueSpec } from './route.ts';
import { compileTemplate, type TopicTemplate } from './template.ts';

export class RoutesError extends Error {}

/** What the ingestor does with no routes file: the simulator's layout. */
export const DEFAULT_ROUTES_YAML = `
routes:
  - name: default
    topic: sensors/{location}/{device}/telemetry
    format: json
`;

const KEYS = new Set(['name', 'topic', 'format', 'measurement', 'device', 'location', 'field', 'tags', 'static_tags', 'payload_tags', 'types', 'rename', 'include', 'exclude', 'timestamp', 'lp_precision']);
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function spec(where: string, key: string, raw: unknown, template: TopicTemplate): ValueSpec {
  if (typeof raw !== 'string' || raw === '') throw new RoutesError(`${where}: "${key}" must be text or {capture}, got ${JSON.stringify(raw)}`);
  const capture = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(raw)?.[1];
  if (capture === undefined) return { literal: raw };
  if (!template.captures.includes(capture)) {
    throw new RoutesError(`${where}: "${key}" uses {${capture}}, which the topic ${JSON.stringify(template.source)} does not capture`);
  }
  return { capture };
}

function stringList(where: string, key: string, raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || !raw.every((item) => typeof item === 'string' && item !== '')) throw new RoutesError(`${where}: "${key}" must be a list of names`);
  return raw as string[];
}

function stringMap(where: string, key: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RoutesError(`${where}: "${key}" must be a mapping`);
  const result: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new RoutesError(`${where}: "${key}.${k}" must be text`);
    result[k] = String(v);
  }
  return result;
}

function oneOf<T extends string>(where: string, key: string, raw: unknown, allowed: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly unknown[]).includes(raw)) throw new RoutesError(`${where}: "${key}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

function route(raw: unknown, index: number): Route {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RoutesError(`routes[${index}]: expected a mapping with name and topic`);
  const r = raw as Record<string, unknown>;
  const name = r.name;
  if (typeof name !== 'string' || !NAME.test(name)) throw new RoutesError(`routes[${index}]: "name" must be a short name (letters, digits, _ . -), got ${JSON.stringify(name)}`);
  const where = `route "${name}"`;
  const unknown = Object.keys(r).find((key) => !KEYS.has(key));
  if (unknown !== undefined) throw new RoutesError(`${where}: unknown option ${JSON.stringify(unknown)}`);
  if (typeof r.topic !== 'string') throw new RoutesError(`${where}: "topic" is required, e.g. sensors/{location}/{device}/telemetry`);
  let template: TopicTemplate;
  try {
    template = compileTemplate(r.topic);
  } catch (error) {
    throw new RoutesError(`${where}: ${(error as Error).message}`);
  }
  const format: Format = oneOf(where, 'format', r.format, FORMATS, 'json');
  if (r.device === undefined && !template.captures.includes('device')) {
    throw new RoutesError(`${where}: no device: capture {device} in the topic or set "device"`);
  }
  const tags = stringList(where, 'tags', r.tags);
  for (const tag of tags) {
    if (!template.captures.includes(tag)) throw new RoutesError(`${where}: "tags" lists ${tag}, which the topic does not capture`);
  }
  const types: Record<string, FieldType> = {};
  for (const [field, type] of Object.entries(stringMap(where, 'types', r.types))) {
    if (!(FIELD_TYPES as readonly string[]).includes(type)) throw new RoutesError(`${where}: type of "${field}" must be one of ${FIELD_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
    types[field] = type as FieldType;
  }
  if (r.timestamp !== undefined && typeof r.timestamp !== 'string') throw new RoutesError(`${where}: "timestamp" must be a payload field name`);
  const include = r.include === undefined ? undefined : new Set(stringList(where, 'include', r.include));
  return {
    name,
    template,
    format,
    measurement: spec(where, 'measurement', r.measurement ?? 'telemetry', template),
    device: spec(where, 'device', r.device ?? '{device}', template),
    location: r.location !== undefined ? spec(where, 'location', r.location, template) : template.captures.includes('location') ? { capture: 'location' } : undefined,
    field: spec(where, 'field', r.field ?? 'value', template),
    tags,
    staticTags: stringMap(where, 'static_tags', r.static_tags),
    payloadTags: stringList(where, 'payload_tags', r.payload_tags),
    types,
    rename: stringMap(where, 'rename', r.rename),
    include,
    exclude: new Set(stringList(where, 'exclude', r.exclude)),
    timestamp: r.timestamp,
    lpPrecision: oneOf<LpPrecision>(where, 'lp_precision', r.lp_precision, LP_PRECISIONS, 'ns'),
  };
}

export function parseRoutes(file: string, content: string): Route[] {
  let document: unknown;
  try {
    document = parse(content);
  } catch (error) {
    throw new RoutesError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const list = (document as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(list) || list.length === 0) throw new RoutesError(`${file}: expected "routes", a list of routes`);
  try {
    const routes = list.map(route);
    const names = routes.map((r) => r.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) throw new RoutesError(`route "${twice}": the name is used twice`);
    return routes;
  } catch (error) {
    if (error instanceof RoutesError) throw new RoutesError(`${file}: ${error.message}`);
    throw error;
  }
}
