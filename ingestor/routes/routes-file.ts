/**
 * The routes file (ROUTES_FILE, YAML) → routes, checked at start-up: its shape
 * against ROUTES_SCHEMA (ajv), then what a schema cannot say (captures the
 * topic must have). Every error names the file, the route and where in the
 * file. Pure. See ingestor/routes.sample.yaml for every option with its default.
 */
import { parse } from 'yaml';
import { documentChecker, type DocumentProblem } from '../../common/config/document-schema.ts';
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

const valueSpec = { type: 'string', minLength: 1, expected: 'must be text or {capture}' };
const names = { type: 'array', items: { type: 'string', minLength: 1 }, expected: 'must be a list of names' };
const textMapSchema = { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'], expected: 'must be text' }, expected: 'must be a mapping' };

/** The shape of a routes file; ingestor/routes.sample.yaml documents each option. */
export const ROUTES_SCHEMA = {
  type: 'object',
  expected: 'expected "routes", a list of routes',
  required: ['routes'],
  properties: {
    routes: {
      type: 'array',
      minItems: 1,
      expected: 'expected a list of routes',
      items: {
        type: 'object',
        expected: 'expected a mapping with name and topic',
        required: ['name', 'topic'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$', expected: 'must be a short name (letters, digits, _ . -)' },
          topic: { type: 'string', expected: 'e.g. sensors/{location}/{device}/telemetry' },
          format: { enum: [...FORMATS] },
          measurement: valueSpec,
          device: valueSpec,
          location: valueSpec,
          field: valueSpec,
          tags: names,
          static_tags: textMapSchema,
          payload_tags: names,
          types: { type: 'object', additionalProperties: { enum: [...FIELD_TYPES] }, expected: 'must be a mapping of field names to types' },
          rename: textMapSchema,
          include: names,
          exclude: names,
          timestamp: { type: 'string', expected: 'must be a payload field name' },
          lp_precision: { enum: [...LP_PRECISIONS] },
        },
      },
    },
  },
} as const;

const checkRoutes = documentChecker(ROUTES_SCHEMA);

/** `route "r1" at routes[0].format` when the problem is inside a named route. */
function locate(problem: DocumentProblem, document: unknown): string {
  const index = /^routes\[(\d+)\]/.exec(problem.path)?.[1];
  const name = index === undefined ? undefined : ((document as { routes: { name?: unknown }[] }).routes[Number(index)]?.name);
  const where = typeof name === 'string' ? `route ${JSON.stringify(name)} at ${problem.path}` : problem.path;
  return where === '' ? problem.problem : `${where}: ${problem.problem}`;
}

/** The raw route, as ROUTES_SCHEMA has checked it. */
interface RawRoute {
  name: string;
  topic: string;
  format?: Format;
  measurement?: string;
  device?: string;
  location?: string;
  field?: string;
  tags?: string[];
  static_tags?: Record<string, string | number | boolean>;
  payload_tags?: string[];
  types?: Record<string, FieldType>;
  rename?: Record<string, string | number | boolean>;
  include?: string[];
  exclude?: string[];
  timestamp?: string;
  lp_precision?: LpPrecision;
}

function spec(where: string, key: string, raw: string, template: TopicTemplate): ValueSpec {
  const capture = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(raw)?.[1];
  if (capture === undefined) return { literal: raw };
  if (!template.captures.includes(capture)) {
    throw new RoutesError(`${where}: "${key}" uses {${capture}}, which the topic ${JSON.stringify(template.source)} does not capture`);
  }
  return { capture };
}

const textMap = (raw: Record<string, string | number | boolean> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(raw ?? {}).map(([key, value]) => [key, String(value)]));

function route(r: RawRoute): Route {
  const { name } = r;
  const where = `route "${name}"`;
  let template: TopicTemplate;
  try {
    template = compileTemplate(r.topic);
  } catch (error) {
    throw new RoutesError(`${where}: ${(error as Error).message}`);
  }
  if (r.device === undefined && !template.captures.includes('device')) {
    throw new RoutesError(`${where}: no device: capture {device} in the topic or set "device"`);
  }
  const tags = r.tags ?? [];
  for (const tag of tags) {
    if (!template.captures.includes(tag)) throw new RoutesError(`${where}: "tags" lists ${tag}, which the topic does not capture`);
  }
  return {
    name,
    template,
    format: r.format ?? 'json',
    measurement: spec(where, 'measurement', r.measurement ?? 'telemetry', template),
    device: spec(where, 'device', r.device ?? '{device}', template),
    location: r.location !== undefined ? spec(where, 'location', r.location, template) : template.captures.includes('location') ? { capture: 'location' } : undefined,
    field: spec(where, 'field', r.field ?? 'value', template),
    tags,
    staticTags: textMap(r.static_tags),
    payloadTags: r.payload_tags ?? [],
    types: { ...r.types },
    rename: textMap(r.rename),
    include: r.include === undefined ? undefined : new Set(r.include),
    exclude: new Set(r.exclude ?? []),
    timestamp: r.timestamp,
    lpPrecision: r.lp_precision ?? 'ns',
  };
}

export function parseRoutes(file: string, content: string): Route[] {
  let document: unknown;
  try {
    document = parse(content);
  } catch (error) {
    throw new RoutesError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const problem = checkRoutes(document);
  if (problem !== undefined) throw new RoutesError(`${file}: ${locate(problem, document)}`);
  try {
    const routes = (document as { routes: RawRoute[] }).routes.map(route);
    const names = routes.map((r) => r.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) throw new RoutesError(`route "${twice}": the name is used twice`);
    return routes;
  } catch (error) {
    if (error instanceof RoutesError) throw new RoutesError(`${file}: ${error.message}`);
    throw error;
  }
}
