/**
 * The production pipeline (`Ingest` with the handler table main.ts builds)
 * over an in-memory log: what the log receives is exactly what the shipper
 * would send to InfluxDB. For unit and golden tests; no services.
 */
import { pino } from 'pino';
import type { DecodeBounds, Handler, InboundMessage, LineLog } from '../../ingestor/contracts.ts';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { parseRegistry } from '../../ingestor/directory/registry.ts';
import type { LagCounter } from '../../ingestor/liveness/catch-up.ts';
import { handlerTable } from '../../ingestor/pipeline/handlers.ts';
import { Ingest } from '../../ingestor/pipeline/ingest.ts';
import { RejectLog } from '../../ingestor/pipeline/rejects.ts';
import { emptyStats, type PipelineStats } from '../../ingestor/pipeline/stats.ts';
import { PresenceTracker } from '../../ingestor/presence/tracker.ts';
import type { Route } from '../../ingestor/routes/route.ts';
import { DEFAULT_ROUTES_YAML, parseRoutes } from '../../ingestor/routes/routes-file.ts';
import type { RollupBook } from '../../ingestor/rollups/book.ts';
import { RecordTooLargeError } from '../../ingestor/wal/wal.ts';
import { DEFAULT_BOUNDS } from './decode.ts';

/** An MQTT message as the source hands it over: a string payload as is, anything else as JSON. */
export function inboundMessage(topic: string, payload: unknown, receivedAtMs: number, extra: Partial<InboundMessage> = {}): InboundMessage {
  return { topic, payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), receivedAtMs, ...extra };
}

/** Records in append order; refuses a record over `maxRecordBytes` as the write-ahead log does. */
export class MemoryLog implements LineLog {
  readonly records: string[][] = [];
  /** Every line appended, in order (the same array all along). */
  readonly lines: string[] = [];
  readonly #maxRecordBytes: number;

  constructor(maxRecordBytes = Number.POSITIVE_INFINITY) {
    this.#maxRecordBytes = maxRecordBytes;
  }

  append(lines: readonly string[]): void {
    // The log's own measure: the lines, newline-terminated.
    const bytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
    if (bytes > this.#maxRecordBytes) throw new RecordTooLargeError(bytes, this.#maxRecordBytes);
    this.records.push([...lines]);
    this.lines.push(...lines);
  }
}

export interface MemoryIngestOptions {
  /** @default the default route */
  readonly routes?: readonly Route[];
  /** PRESENCE_EMQX @default true */
  readonly emqxPresence?: boolean;
  /** SPARKPLUG @default true */
  readonly sparkplug?: boolean;
  /** Replaces the table built from the three options above. */
  readonly handlers?: readonly Handler[];
  readonly bounds?: Partial<DecodeBounds>;
  /** DEVICES_FILE content @default no registry */
  readonly registry?: string;
  /** DEVICE_DIRECTORY_FILE @default none */
  readonly directoryFile?: string;
  /** PRESENCE_HOLD_MS @default 0 (nothing held) */
  readonly holdMs?: number;
  readonly maxRecordBytes?: number;
  /** PRESENCE_EMQX_SERVICE_USERS @default none */
  readonly serviceUsers?: readonly string[];
  /** PRESENCE_EMQX_GATEWAY_USERS @default none */
  readonly gatewayUsers?: readonly string[];
  /** The catching-up rule's counter @default none */
  readonly lag?: LagCounter;
  /** Per-minute rollups (ROLLUPS) @default none */
  readonly rollups?: RollupBook;
}

export interface MemoryIngest {
  readonly ingest: Ingest;
  readonly log: MemoryLog;
  readonly stats: PipelineStats;
  readonly rejects: RejectLog;
  readonly directory: DeviceDirectory;
}

const silent = pino({ level: 'silent' });

export const defaultRoutes = (): Route[] => parseRoutes('(default routes)', DEFAULT_ROUTES_YAML);

export function memoryIngest(options: MemoryIngestOptions = {}): MemoryIngest {
  const log = new MemoryLog(options.maxRecordBytes);
  const stats = emptyStats();
  const rejects = new RejectLog(silent);
  const directory = new DeviceDirectory(parseRegistry('devices.yaml', options.registry ?? 'devices: {}\n'), options.directoryFile, silent);
  const handlers = options.handlers
    ?? handlerTable({ emqxPresence: options.emqxPresence ?? true, sparkplug: options.sparkplug ?? true, routes: options.routes ?? defaultRoutes(), ...(options.serviceUsers && { serviceUsers: options.serviceUsers }) });
  const ingest = new Ingest({
    handlers,
    bounds: { ...DEFAULT_BOUNDS, ...options.bounds },
    wal: log,
    rejects,
    stats,
    directory,
    presence: new PresenceTracker(),
    log: silent,
    presenceHoldMs: options.holdMs ?? 0,
    ...(options.gatewayUsers && { gatewayUsers: new Set(options.gatewayUsers) }),
    ...(options.lag && { lag: options.lag }),
    ...(options.rollups && { rollups: options.rollups }),
  });
  return { ingest, log, stats, rejects, directory };
}
