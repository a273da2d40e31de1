/**
 * The device directory: what the pipeline knows about each device, from the
 * registry file (authoritative) and from what it learned on the way (the
 * location in a device's telemetry topic). Presence events carry no location,
 * so this is where a `device_presence` point gets its `location` and `group`.
 *
 * It also remembers the last state each device's status topic said (online
 * or offline, and when): after a restart the broker re-sends every retained
 * status, and this is how the pipeline tells a repeat from news.
 *
 * Both are kept in a JSON file, written atomically (temp file + rename) at
 * most once a second and at close, so they survive restarts. A crash loses at
 * most the last second of what was learned.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { DeviceEntry, Registry } from './registry.ts';

export const UNKNOWN = 'unknown';

/** What a device's status topic said last. */
export interface KnownStatus {
  readonly online: boolean;
  /** The time of that state (the payload's, or when it was received). */
  readonly atMs: number;
}

export interface DirectoryTags {
  readonly location: string;
  readonly group: string;
  /** type and the registry's extra tags. */
  readonly extra: Readonly<Record<string, string>>;
}

export class DeviceDirectory {
  readonly #registry: Registry;
  readonly #learned = new Map<string, string>();
  readonly #status = new Map<string, KnownStatus>();
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

  /** Whether a device's location is known (registry or learned): its points will not say "unknown". */
  hasLocation(device: string): boolean {
    return this.#registry.devices.get(device)?.location !== undefined || this.#learned.has(device);
  }

  /** Remembers where a device publishes from; the registry's location, if any, still wins. */
  learnLocation(device: string, location: string): void {
    if (this.#learned.get(device) === location) return;
    this.#learned.set(device, location);
    this.#scheduleSave();
  }

  lastStatus(device: string): KnownStatus | undefined {
    return this.#status.get(device);
  }

  /** Remembers what a device's status topic said; call once its point (if any) is in the log. */
  rememberStatus(device: string, status: KnownStatus): void {
    const known = this.#status.get(device);
    if (known?.online === status.online && known.atMs === status.atMs) return;
    this.#status.set(device, { online: status.online, atMs: status.atMs });
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
      const parsed = JSON.parse(content) as { locations?: Record<string, unknown>; status?: Record<string, unknown> };
      for (const [device, location] of Object.entries(parsed.locations ?? {})) {
        if (typeof location === 'string' && location !== '') this.#learned.set(device, location);
      }
      for (const [device, status] of Object.entries(parsed.status ?? {})) {
        const { online, atMs } = (status ?? {}) as Record<string, unknown>;
        if (typeof online === 'boolean' && typeof atMs === 'number' && Number.isFinite(atMs)) this.#status.set(device, { online, atMs });
      }
    } catch (error) {
      // A damaged file costs only what it taught us; telemetry teaches it again,
      // and each retained status is recorded once more.
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

  /** Writes the learned locations and statuses now (atomically). */
  save(): void {
    if (this.#file === undefined) return;
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    try {
      mkdirSync(dirname(this.#file), { recursive: true });
      const temporary = `${this.#file}.tmp`;
      const content = { locations: Object.fromEntries(this.#learned), status: Object.fromEntries(this.#status) };
      writeFileSync(temporary, `${JSON.stringify(content, null, 1)}\n`);
      renameSync(temporary, this.#file);
    } catch (error) {
      this.#log.error({ file: this.#file, error: (error as Error).message }, 'cannot save the learned device directory');
    }
  }
}
