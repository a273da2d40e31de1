/** Fleet mode: every device its own connection, churn at random, scenario events on cue. */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { churnDurationMs, nextChurn } from './churn.ts';
import { SimDevice, type Counters, type EventLog } from './device.ts';
import type { SimulatorOptions } from './options.ts';
import { makeProfiles, seededRandom } from './readings.ts';
import { targets, type Scenario, type ScenarioEvent } from './scenario.ts';

export interface RunResult {
  readonly summary: Record<string, unknown>;
  readonly exitCode: number;
}

export function connectOptions(options: SimulatorOptions): IClientOptions {
  return {
    ...(options.username !== undefined && { username: options.username }),
    ...(options.password !== undefined && { password: options.password }),
    ...(options.ca !== undefined && { ca: readFileSync(options.ca) }),
    ...(options.cert !== undefined && { cert: readFileSync(options.cert) }),
    ...(options.key !== undefined && { key: readFileSync(options.key) }),
    connectTimeout: 10_000,
  };
}

function apply(event: ScenarioEvent, devices: Map<string, SimDevice>, scenario: string, log: EventLog): void {
  const ids = targets(event, [...devices.values()].map((d) => d.profile));
  if (ids.length === 0) log('-', 'scenario event matches no device', { scenario, action: event.action });
  const cause = `scenario: ${scenario}`;
  for (const id of ids) {
    const device = devices.get(id)!;
    const forMs = event.forMs ?? 0;
    switch (event.action) {
      case 'offline': device.drop(forMs, cause); break;
      case 'restart': device.restart(cause); break;
      case 'silent': device.silence(forMs, cause); break;
      case 'stuck': device.stick(forMs, cause); break;
      case 'set': device.set(event.field!, event.value!, forMs, cause); break;
      case 'malformed': device.malformed(event.count ?? 20, cause); break;
    }
  }
}

export async function runFleet(options: SimulatorOptions, scenario: Scenario | undefined, log: EventLog, stopSignal: Promise<void>): Promise<RunResult> {
  const startedAtMs = Date.now();
  const profiles = makeProfiles(options.devices, options.locations, options.seed, startedAtMs);
  const random = seededRandom(options.seed ^ 0x5eed);
  const churnRandom = seededRandom(options.seed ^ 0xc4a05);
  const counters: Counters = { sent: 0, errors: 0 };
  const base = connectOptions(options);
  const devices = new Map(profiles.map((profile) => [profile.id, new SimDevice(profile, options, base, random, log, counters)]));

  // Ramp up over about one interval instead of connecting the whole fleet at once.
  const rampStepMs = Math.min(50, options.intervalMs / Math.max(1, profiles.length));
  const timers: NodeJS.Timeout[] = [];
  [...devices.values()].forEach((device, index) => timers.push(setTimeout(() => device.start(), index * rampStepMs)));

  const CHURN_TICK_MS = 1000;
  timers.push(setInterval(() => {
    for (const device of devices.values()) {
      const kind = nextChurn(churnRandom, options.churnPerHour, CHURN_TICK_MS);
      if (kind === undefined) continue;
      const forMs = churnDurationMs(churnRandom);
      if (kind === 'drop') device.drop(forMs, 'churn');
      else if (kind === 'restart') device.restart('churn');
      else if (kind === 'silent') device.silence(forMs, 'churn');
      else if (kind === 'stuck') device.stick(forMs, 'churn');
      else device.anomaly(kind, 'churn');
    }
  }, CHURN_TICK_MS));
  for (const event of scenario?.events ?? []) {
    timers.push(setTimeout(() => apply(event, devices, scenario!.name, log), event.atMs));
  }

  const progress = setInterval(() => {
    if (options.quiet) return;
    const seconds = (Date.now() - startedAtMs) / 1000;
    const connected = [...devices.values()].filter((d) => d.connected).length;
    process.stderr.write(`\rdevices ${connected}/${devices.size}  sent ${counters.sent}  rate ${(counters.sent / seconds).toFixed(1)}/s  errors ${counters.errors}   `);
  }, 1000);

  await Promise.race([stopSignal, ...(options.durationS === undefined ? [] : [new Promise((resolve) => setTimeout(resolve, options.durationS! * 1000))])]);
  clearInterval(progress);
  for (const timer of timers) clearTimeout(timer);
  const connectedAtEnd = [...devices.values()].filter((d) => d.connected).length;
  await Promise.all([...devices.values()].map((device) => device.stop()));
  if (!options.quiet) process.stderr.write('\n');
  return {
    summary: { mode: 'fleet', startedAt: new Date(startedAtMs).toISOString(), devices: devices.size, connectedAtEnd, sent: counters.sent, errors: counters.errors, seconds: (Date.now() - startedAtMs) / 1000, ...(scenario && { scenario: scenario.name }), ...(counters.lastConnectError !== undefined && { lastConnectError: counters.lastConnectError }) },
    // Nothing sent and nothing connected: the broker was never reached.
    exitCode: counters.sent === 0 && connectedAtEnd === 0 ? 1 : 0,
  };
}
