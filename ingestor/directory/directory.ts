/**
 * The device directory: what the pipeline knows about each device, from the
 * registry file (authoritative) and from what it learned on the way (the
 * location in a device's telemetry topic). Presence events carry no location,
 * so this is where a `device_presence` point gets its `location` and `group`.
 *
 * Learned locations are kept in a JSON file, written atomically (temp file +
 * rename) at most once a second and at close, so they survive restarts.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { DeviceEntry, Registry } from './registry.ts';

export const UNKNOWN = 'unknown';

export interface DirectoryTags {
  readonly location: string;
  readonly group: string;
  /** type and the registry's extra tags. */
  readonly extra: Readonly<Record<string, string>>;
}

export class DeviceDirectory {
  readonly #registry: Registry;
  readonly #learned = new Map<string, string>();
  readonly #file: string | undefined;
  readonly #log: Logger;
  #saveTimer: NodeJS.Timeout | undefined;

  constructor(registry: Registry, learnedFile: string | undefined, log: Logger) {
    this.#registry = registry;
    this.#file = learnedFile;
    this.#log = log;
    if (learnedFile !== undefined) this.#load(learnedFile);
  }

  get strict(): boolean {
    return this.#registry.strict;
  }

  isKnown(device: string): boolean {
    return this.#registry.devices.has(device);
  }

  /** Remembers where a device publishes from; the registry's location, if any, still wins. */
  learnLocation(device: string, location: string): void {
    if (this.#learned.get(device) === location) return;
    this.#learned.set(device, location);
    this.#scheduleSave();
  }

  /** Tags for a device's points: location and group always present ("unknown" when not known). */
  tagsFor(device: string): DirectoryTags {
    const entry: DeviceEntry | undefined = this.#registry.devices.get(device);
    return {
      location: entry?.location ?? this.#learned.get(device) ?? UNKNOWN,
      group: entry?.group ?? UNKNOWN,
      extra: { ...(entry?.type !== undefined && { type: entry.type }), ...entry?.tags },
    };
  }

  #load(file: string): void {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const parsed = JSON.parse(content) as { locations?: Record<string, unknown> };
      for (const [device, location] of Object.entries(parsed.locations ?? {})) {
        if (typeof location === 'string' && location !== '') this.#learned.set(device, location);
      }
    } catch (error) {
      // A damaged file costs only what it taught us; telemetry teaches it again.
      this.#log.warn({ file, error: (error as Error).message }, 'the learned device directory is unreadable; starting it afresh');
    }
  }

  #scheduleSave(): void {
    if (this.#file === undefined || this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.save();
    }, 1000);
    this.#saveTimer.unref();
  }

  /** Writes the learned locations now (atomically). */
  save(): void {
    if (this.#file === undefined) return;
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    try {
      mkdirSync(dirname(this.#file), { recursive: true });
      const temporary = `${this.#file}.tmp`;
      writeFileSync(temporary, `${JSON.stringify({ locations: Object.fromEntries(this.#learned) }, null, 1)}\n`);
      renameSync(temporary, this.#file);
    } catch (error) {
      this.#log.error({ file: this.#file, error: (error as Error).message }, 'cannot save the learned device directory');
    }
  }
}
