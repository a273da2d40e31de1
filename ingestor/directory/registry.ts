/**
 * The device registry file (DEVICES_FILE), YAML or CSV. Pure parsing: text →
 * entries, or an error naming the file, the device and the problem.
 *
 * YAML:
 *   strict: false            # true: messages from devices not listed are rejected
 *   devices:
 *     dev-001: { location: site-1, group: floor-1, type: thermometer, tags: { building: A } }
 *
 * CSV (header required; columns other than these four become extra tags):
 *   device,location,group,type,building
 *   dev-001,site-1,floor-1,thermometer,A
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { parse as parseYaml } from 'yaml';
import { documentChecker, type DocumentProblem } from '../../common/config/document-schema.ts';

export interface DeviceEntry {
  readonly location?: string;
  readonly group?: string;
  readonly type?: string;
  /** Extra tags added to the device's points. */
  readonly tags: Readonly<Record<string, string>>;
}

export interface Registry {
  readonly strict: boolean;
  readonly devices: ReadonlyMap<string, DeviceEntry>;
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
}

const KNOWN_COLUMNS = new Set(['device', 'location', 'group', 'type']);
/** Tag keys the pipeline sets itself; a registry must not override them. */
const RESERVED_TAGS = new Set(['device', 'location', 'group', 'type', 'source', 'instance']);

function text(file: string, device: string, key: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new RegistryError(`${file}: device ${JSON.stringify(device)}: ${key} must be text, got ${JSON.stringify(value)}`);
}

function entry(file: string, device: string, fields: Record<string, unknown>, extra: Record<string, unknown>): DeviceEntry {
  if (device.trim() === '') throw new RegistryError(`${file}: a device has an empty id`);
  const tags: Record<string, string> = {};
  for (const [key, value] of Object.entries(extra)) {
    if (RESERVED_TAGS.has(key)) throw new RegistryError(`${file}: device ${JSON.stringify(device)}: tag ${JSON.stringify(key)} is set by the pipeline and cannot be overridden`);
    const tag = text(file, device, `tag ${key}`, value);
    if (tag !== undefined) tags[key] = tag;
  }
  const location = text(file, device, 'location', fields.location);
  const group = text(file, device, 'group', fields.group);
  const type = text(file, device, 'type', fields.type);
  return { ...(location && { location }), ...(group && { group }), ...(type && { type }), tags };
}

export function parseRegistry(file: string, content: string): Registry {
  if (/\.csv$/i.test(file)) return parseCsvRegistry(file, content);
  if (/\.ya?ml$/i.test(file)) return parseYamlRegistry(file, content);
  throw new RegistryError(`${file}: expected a .yaml, .yml or .csv file`);
}

const scalar = { type: ['string', 'number', 'boolean', 'null'], expected: 'must be text' };

/** The shape of a YAML registry (the header comment shows an example). */
export const REGISTRY_SCHEMA = {
  type: 'object',
  expected: 'expected a mapping with "devices" (and optionally "strict")',
  additionalProperties: false,
  properties: {
    strict: { type: 'boolean', expected: 'must be true or false' },
    devices: {
      type: 'object',
      expected: 'must map device ids to their location, group, type and tags',
      additionalProperties: {
        type: 'object',
        expected: 'expected a mapping such as { location: site-1 }',
        additionalProperties: false,
        properties: {
          location: scalar,
          group: scalar,
          type: scalar,
          tags: { type: 'object', additionalProperties: scalar, expected: 'must be a mapping' },
        },
      },
    },
  },
} as const;

const checkRegistry = documentChecker(REGISTRY_SCHEMA);

/** `device "dev-1" at devices.dev-1.location` when the problem is inside a device. */
function locate(problem: DocumentProblem, devices: unknown): string {
  const id = /^devices\.("(?:[^"\\]|\\.)*"|[^.[]+)/.exec(problem.path)?.[1];
  const device = id === undefined ? undefined : id.startsWith('"') ? (JSON.parse(id) as string) : id;
  const where = device !== undefined && typeof devices === 'object' && devices !== null && device in devices ? `device ${JSON.stringify(device)} at ${problem.path}` : problem.path;
  return where === '' ? problem.problem : `${where}: ${problem.problem}`;
}

function parseYamlRegistry(file: string, content: string): Registry {
  let document: unknown;
  try {
    document = parseYaml(content);
  } catch (error) {
    throw new RegistryError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const devicesOf = (value: unknown): unknown => (value as { devices?: unknown } | null)?.devices;
  const problem = checkRegistry(document);
  if (problem !== undefined) throw new RegistryError(`${file}: ${locate(problem, devicesOf(document))}`);
  const { strict = false, devices } = document as { strict?: boolean; devices?: Record<string, { location?: unknown; group?: unknown; type?: unknown; tags?: Record<string, unknown> }> };
  const entries = new Map<string, DeviceEntry>();
  for (const [device, { location, group, type, tags = {} }] of Object.entries(devices ?? {})) {
    entries.set(device, entry(file, device, { location, group, type }, tags));
  }
  return { strict, devices: entries };
}

function parseCsvRegistry(file: string, content: string): Registry {
  let rows: Record<string, string>[];
  try {
    rows = parseCsv<Record<string, string>>(content, { columns: true, skip_empty_lines: true, trim: true, comment: '#' });
  } catch (error) {
    throw new RegistryError(`${file}: not valid CSV: ${(error as Error).message}`);
  }
  const entries = new Map<string, DeviceEntry>();
  for (const [index, row] of rows.entries()) {
    const device = row.device;
    if (device === undefined) throw new RegistryError(`${file}: the header must have a "device" column`);
    if (entries.has(device)) throw new RegistryError(`${file}: row ${index + 2}: device ${JSON.stringify(device)} is listed twice`);
    const extra = Object.fromEntries(Object.entries(row).filter(([key]) => !KNOWN_COLUMNS.has(key)));
    entries.set(device, entry(file, device, row, extra));
  }
  return { strict: false, devices: entries };
}
