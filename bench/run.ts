/**
 * `npm run bench` (`-- --quick` for a two-minute version): the ingestor's
 * throughput, latency and memory, measured against real Mosquitto, InfluxDB
 * 1.x and VictoriaMetrics started here (test/harness), never asserted.
 *
 *   micro   decode, encode, log append, in process
 *   drain   a queued backlog: ingestor vs a bare mqtt.js client, same run
 *   live    the simulator's load mode at a fixed rate: keeps up? latency
 *   outage  the same load with InfluxDB stopped for a while
 *   grafana what every alert rule and Fleet overview panel costs InfluxDB
 *           with N devices of history (--devices, --hours)
 *
 * Writes bench/results/<date>.json, .md (the table) and .png plots;
 * --quick runs go to bench/results/quick/ (not committed). Run it alone:
 * `flock /tmp/sf-heavy.lock npm run bench` where the machine is shared.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeEnvironment, loadAverage } from './lib/environment.ts';
import { parseBenchOptions, UsageError, USAGE, type BenchOptions } from './lib/options.ts';
import { plotDrain, plotLive, plotOutage } from './report/plots.ts';
import type { BenchResults } from './report/results.ts';
import { environmentLine, resultsTable } from './report/table.ts';
import { benchDrain } from './suites/drain.ts';
import { benchFleet } from './suites/fleet.ts';
import { benchFleetIngestor } from './suites/fleet-ingestor.ts';
import { benchGrafanaCost } from './suites/grafana.ts';
import { benchLive, benchOutage } from './suites/live.ts';
import { benchMicro } from './suites/micro.ts';
import { startInflux1 } from '../test/harness/services.ts';

const RESULTS_DIR = join(import.meta.dirname, 'results');

let options: BenchOptions;
try {
  const parsed = parseBenchOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  options = parsed;
} catch (error) {
  if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  throw error;
}

const startedAt = Date.now();
const log = (line: string): void => {
  process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

const results: BenchResults = { environment: describeEnvironment(), options, drain: [] };
log(`load average ${results.environment.loadAverageAtStart.join(' ')}`);

if (options.suites.includes('micro')) {
  log(`micro: ${options.microMessages.toLocaleString('en-US')} messages`);
  results.micro = benchMicro(options.microMessages, options.quick ? 3 : 5);
  log(`micro: pipeline ${results.micro.pipelinePerSecond.median}/s, with rollups ${results.micro.pipelineWithRollupsPerSecond?.median}/s, append ${results.micro.appendPerSecond.median}/s`);
}
if (options.suites.includes('drain')) {
  for (const path of options.paths) {
    const ingestorNodeArgs = options.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(options.profileDir)}`];
    results.drain.push(await benchDrain(path, { messages: options.messages, devices: 1000, locations: 10, runs: options.runs, log, ingestorNodeArgs }));
  }
}
if (options.suites.includes('live')) {
  results.live = await benchLive({ rate: options.rate, durationS: options.liveS, log });
}
if (options.suites.includes('outage')) {
  results.outage = await benchOutage({
    rate: options.rate,
    durationS: options.outageBeforeS + options.outageS + options.outageAfterS,
    beforeS: options.outageBeforeS,
    outageS: options.outageS,
    log,
  });
}
if (options.suites.includes('grafana')) {
  results.grafana = [];
  for (const devices of options.grafanaDevices) {
    results.grafana.push(await benchGrafanaCost({ devices, hours: options.grafanaHours, runs: options.grafanaRuns, log }));
  }
}
if (options.suites.includes('fleet')) {
  results.fleet = [];
  for (const devices of options.grafanaDevices) {
    results.fleet.push(await benchFleet({ devices, runs: options.grafanaRuns, log }));
  }
  // The ingestor's liveness side at the same sizes, and the device rules on what it wrote (1 % offline, 1 % silent, 60 ticks: an hour).
  results.fleetIngestor = [];
  for (const devices of options.grafanaDevices) {
    const influx = await startInflux1();
    try {
      log(`fleet: the ingestor with ${devices.toLocaleString('en-US')} devices, 60 ticks`);
      results.fleetIngestor.push(await benchFleetIngestor({ devices, offlineShare: 0.01, silentShare: 0.01, ticks: 60, influxUrl: influx.url }));
    } finally {
      await influx.stop();
    }
  }
}
results.loadAverageAtEnd = loadAverage();
results.finishedAt = new Date().toISOString();

const dir = options.quick ? join(RESULTS_DIR, 'quick') : RESULTS_DIR;
mkdirSync(dir, { recursive: true });
const stamp = results.environment.date.replace(/[:.]/g, '-').slice(0, 19);
const base = join(dir, stamp);
writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 1)}\n`);
const table = `${resultsTable(results)}\n\n${environmentLine(results)}\n`;
writeFileSync(`${base}.md`, table);
const plots = [
  (await plotDrain(results, `${base}-drain.png`)) && `${base}-drain.png`,
  (await plotLive(results, `${base}-live.png`)) && `${base}-live.png`,
  (await plotOutage(results, `${base}-outage.png`)) && `${base}-outage.png`,
].filter((file): file is string => typeof file === 'string');
process.stdout.write(`${table}\nresults: ${base}.json\n${plots.map((file) => `plot: ${file}`).join('\n')}\n`);
log(`done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
process.exit(0);
