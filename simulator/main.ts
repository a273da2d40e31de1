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
import { HELP, parseOptions, UsageError } from './options.ts';
import { parseScenario, ScenarioError, type Scenario } from './scenario.ts';

function fail(message: string, withHelp: boolean): never {
  process.stderr.write(`simulator: ${message}\n${withHelp ? `\n${HELP}` : ''}`);
  process.exit(2);
}

loadDotenv({ quiet: true });
let options;
try {
  options = parseOptions(process.argv.slice(2), process.env);
} catch (error) {
  if (error instanceof UsageError) fail(error.message, true);
  throw error;
}
if (options === 'help') {
  process.stdout.write(HELP);
  process.exit(0);
}
let scenario: Scenario | undefined;
if (options.scenario !== undefined) {
  try {
    scenario = parseScenario(options.scenario, readFileSync(options.scenario, 'utf8'));
  } catch (error) {
    fail(error instanceof ScenarioError ? error.message : `--scenario ${JSON.stringify(options.scenario)}: ${(error as Error).message}`, false);
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
