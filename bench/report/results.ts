/** The shape of one result file in bench/results/. */
import type { Environment } from '../lib/environment.ts';
import type { BenchOptions } from '../lib/options.ts';
import type { DrainResult } from '../suites/drain.ts';
import type { FleetResult } from '../suites/fleet.ts';
import type { FleetIngestorResult } from '../suites/fleet-ingestor.ts';
import type { GrafanaCostResult } from '../suites/grafana.ts';
import type { LiveResult, OutageResult } from '../suites/live.ts';
import type { MicroResult } from '../suites/micro.ts';

export interface BenchResults {
  readonly environment: Environment;
  readonly options: BenchOptions;
  micro?: MicroResult;
  readonly drain: DrainResult[];
  live?: LiveResult;
  outage?: OutageResult;
  grafana?: GrafanaCostResult[];
  fleet?: FleetResult[];
  fleetIngestor?: FleetIngestorResult[];
  loadAverageAtEnd?: readonly number[];
  finishedAt?: string;
}
