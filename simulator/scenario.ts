/**
 * Scenario files: timed events that put the fleet in a known state on cue, so
 * that dashboards and alert rules can be demonstrated and tested. Pure parsing.
 *
 *   name: a location overheating
 *   events:
 *     - at: 2m                 # from the start of the run
 *       action: set            # offline | restart | silent | stuck | set | malformed
 *       location: site-3       # or devices: [dev-007, …]; neither = every device
 *       field: temperature
 *       value: 45
 *       for: 5m                # then back to normal
 */
import { parse } from 'yaml';

export const ACTIONS = ['offline', 'restart', 'silent', 'stuck', 'set', 'malformed'] as const;
export type Action = (typeof ACTIONS)[number];

export interface ScenarioEvent {
  readonly atMs: number;
  readonly action: Action;
  /** Undefined: every device. */
  readonly devices?: readonly string[];
  readonly location?: string;
  readonly forMs?: number;
  readonly field?: string;
  readonly value?: number;
  /** malformed: how many bad messages each device sends. */
  readonly count?: number;
}

export interface Scenario {
  readonly name: string;
  readonly events: readonly ScenarioEvent[];
}

export class ScenarioError extends Error {}

/** "90", "90s", "15m", "2h", "500ms" → milliseconds. */
export function parseDurationMs(raw: unknown): number | undefined {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) return raw * 1000;
  if (typeof raw !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(raw.trim());
  if (match === null) return undefined;
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * scale;
}

export function parseScenario(file: string, content: string): Scenario {
  let document: unknown;
  try {
    document = parse(content);
  } catch (error) {
    throw new ScenarioError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const { name, events } = (document ?? {}) as { name?: unknown; events?: unknown };
  if (!Array.isArray(events) || events.length === 0) throw new ScenarioError(`${file}: expected "events", a list of timed events`);
  const parsed = events.map((raw: unknown, index): ScenarioEvent => {
    const where = `${file}: events[${index}]`;
    if (typeof raw !== 'object' || raw === null) throw new ScenarioError(`${where}: expected a mapping with at and action`);
    const { at, action, devices, location, for: duration, field, value, count, ...rest } = raw as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new ScenarioError(`${where}: unknown key ${JSON.stringify(unknown[0])}`);
    const atMs = parseDurationMs(at);
    if (atMs === undefined) throw new ScenarioError(`${where}: "at" must be a duration such as 90s, 15m or 2h, got ${JSON.stringify(at)}`);
    if (!(ACTIONS as readonly unknown[]).includes(action)) throw new ScenarioError(`${where}: "action" must be one of ${ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
    if (devices !== undefined && (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string'))) {
      throw new ScenarioError(`${where}: "devices" must be a list of device ids`);
    }
    if (location !== undefined && typeof location !== 'string') throw new ScenarioError(`${where}: "location" must be text`);
    const forMs = duration === undefined ? undefined : parseDurationMs(duration);
    if (duration !== undefined && forMs === undefined) throw new ScenarioError(`${where}: "for" must be a duration, got ${JSON.stringify(duration)}`);
    if (['offline', 'silent', 'stuck', 'set'].includes(action as string) && forMs === undefined) throw new ScenarioError(`${where}: ${String(action)} needs "for"`);
    if (action === 'set' && (typeof field !== 'string' || typeof value !== 'number')) throw new ScenarioError(`${where}: set needs "field" (text) and "value" (a number)`);
    if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count) || count < 1)) throw new ScenarioError(`${where}: "count" must be a whole number ≥ 1`);
    return {
      atMs,
      action: action as Action,
      ...(devices !== undefined && { devices: devices }),
      ...(location !== undefined && { location: location }),
      ...(forMs !== undefined && { forMs }),
      ...(typeof field === 'string' && { field }),
      ...(typeof value === 'number' && { value }),
      ...(typeof count === 'number' && { count }),
    };
  });
  return { name: typeof name === 'string' ? name : file, events: [...parsed].sort((a, b) => a.atMs - b.atMs) };
}

/** Which devices an event is about. */
export function targets(event: ScenarioEvent, fleet: readonly { id: string; location: string }[]): string[] {
  return fleet
    .filter((device) => (event.devices === undefined || event.devices.includes(device.id)) && (event.location === undefined || event.location === device.location))
    .map((device) => device.id);
}
