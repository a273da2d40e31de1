/**
 * The smart-sensor simulator: `npm run simulator -- --devices 20`.
 * Fleet mode by default (see fleet.ts); load mode with --rate (see load.ts).
 * Progress and the event log go to stderr; a JSON summary to stdout at the end.
 * Exit codes: 0 done; 1 the broker could not be reached; 2 bad flags or scenario.
 */
import { readFileSync } from 'node:fs';
import { config as loadDotenv } from 'dotenv';
import { runFleet } from './fleet.ts';
import { runLoad } from './load.ts';
import { HELP, parseOptions, SIMULATOR_FLAGS, UsageError } from './options.ts';
import { SIMULATOR_SCHEMA } from './settings.ts';
import { commandLine } from '../common/cli.ts';
import { COMMON_SCHEMA } from '../common/settings.ts';
import { parseScenario, ScenarioError, type Scenario } from './scenario.ts';

function fail(message: string): never {
  process.stderr.write(`simulator: ${message}\n`);
  process.exit(2);
}

// --help, --version and unknown flags first: nothing connects before.
commandLine({ name: 'simulator', usage: HELP, flags: SIMULATOR_FLAGS, schemas: [SIMULATOR_SCHEMA, COMMON_SCHEMA] });
loadDotenv({ quiet: true });
let options;
try {
  options = parseOptions(process.argv.slice(2), process.env);
} catch (error) {
  if (error instanceof UsageError) fail(`${error.message}; --help lists the flags and variables`);
  throw error;
}
let scenario: Scenario | undefined;
if (options.scenario !== undefined) {
  try {
    scenario = parseScenario(options.scenario, readFileSync(options.scenario, 'utf8'));
  } catch (error) {
    fail(error instanceof ScenarioError ? error.message : `--scenario ${JSON.stringify(options.scenario)}: ${(error as Error).message}`);
  }
}
const quiet = options.quiet;
const stopSignal = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});
const log = (device: string, event: string, details: Record<string, unknown> = {}): void => {
  if (!quiet) process.stderr.write(`\r${JSON.stringify({ time: new Date().toISOString(), device, event, ...details })}\n`);
};
const result = options.rate === undefined ? await runFleet(options, scenario, log, stopSignal) : await runLoad(options, stopSignal);
process.stdout.write(`${JSON.stringify(result.summary)}\n`);
process.exit(result.exitCode);
