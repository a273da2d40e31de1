/**
 * YAML configuration files (routes, the device registry) checked against a
 * JSON Schema with ajv, the first problem reported as the path inside the
 * file and what is wrong with it:
 *
 *   routes[0].format: must be one of json, envelope, value, lp, got "xml"
 *
 * A schema node may carry `expected` (our annotation keyword): the sentence
 * shown when that node's value has the wrong type or shape, instead of ajv's
 * generic wording. What a schema cannot say (a template capture that does not
 * exist, a reserved tag) stays in the parsing code.
 */
import { Ajv, type ErrorObject } from 'ajv';

export interface DocumentProblem {
  /** Where in the file: `routes[0].format`, `devices.dev-1`; empty for the whole document. */
  readonly path: string;
  readonly problem: string;
}

export type DocumentSchema = Record<string, unknown>;

const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, allowUnionTypes: true });
ajv.addKeyword({ keyword: 'expected', schemaType: 'string' });
/** A node whose value is never echoed (a webhook URL written into the file). */
ajv.addKeyword({ keyword: 'secret', schemaType: 'boolean' });

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `/routes/0/format` → `routes[0].format`; keys that are not simple names are quoted. */
export function readablePath(pointer: string, extra?: string): string {
  const parts = pointer.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  return parts.reduce((path, part) => {
    if (/^\d+$/.test(part)) return `${path}[${part}]`;
    const key = IDENTIFIER.test(part) ? part : JSON.stringify(part);
    return path === '' ? key : `${path}.${key}`;
  }, '');
}

const TYPE_WORDS: Record<string, string> = { string: 'text', object: 'a mapping', array: 'a list', boolean: 'true or false', number: 'a number', integer: 'a whole number' };

function describe(error: ErrorObject): DocumentProblem {
  const parent = (error.parentSchema ?? {}) as { expected?: string; secret?: boolean; properties?: Record<string, { expected?: string }> };
  const got = error.data === undefined || parent.secret === true ? '' : `, got ${JSON.stringify(error.data)}`;
  if (error.propertyName !== undefined) {
    // A key that breaks propertyNames: the key is the bad value.
    return { path: readablePath(error.instancePath, error.propertyName), problem: `${parent.expected ?? error.message ?? 'is not a valid name'}, got ${JSON.stringify(error.propertyName)}` };
  }
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String((error.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys(parent.properties ?? {});
      return { path: readablePath(error.instancePath), problem: `unknown key ${JSON.stringify(key)}${known.length > 0 ? ` (expected ${known.join(', ')})` : ''}` };
    }
    case 'required': {
      const missing = String((error.params as { missingProperty: string }).missingProperty);
      const hint = parent.properties?.[missing]?.expected;
      return { path: readablePath(error.instancePath), problem: `${JSON.stringify(missing)} is required${hint === undefined ? '' : `: ${hint}`}` };
    }
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ');
      return { path: readablePath(error.instancePath), problem: `must be one of ${allowed}${got}` };
    }
    case 'type': {
      if (parent.expected !== undefined) return { path: readablePath(error.instancePath), problem: `${parent.expected}${got}` };
      const types = ([] as string[]).concat((error.params as { type: string | string[] }).type).map((type) => TYPE_WORDS[type] ?? type);
      return { path: readablePath(error.instancePath), problem: `must be ${[...new Set(types)].join(' or ')}${got}` };
    }
    default:
      return { path: readablePath(error.instancePath), problem: `${parent.expected ?? error.message ?? 'is not valid'}${got}` };
  }
}

/** A checker for one schema: the first problem, or undefined when the document fits. */
export function documentChecker(schema: DocumentSchema): (document: unknown) => DocumentProblem | undefined {
  const validate = ajv.compile(schema);
  return (document) => {
    if (validate(document)) return undefined;
    const [first] = validate.errors ?? [];
    return first === undefined ? { path: '', problem: 'is not valid' } : describe(first);
  };
}
