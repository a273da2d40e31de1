/**
 * The smart-sensor simulator: `npm run simulator -- --devices 20`.
 *
 * Each device has its own MQTT connection (client id = device id), a last
 * will `offline` on `sensors/{location}/{device}/status` and a retained
 * `online` birth message there, and publishes JSON telemetry to
 * `sensors/{location}/{device}/telemetry` every --interval-ms.
 */
import { parseArgs } from 'node:util';
import { config as loadDotenv } from 'dotenv';
import mqtt, { type MqttClient } from 'mqtt';
import { makeProfiles, readingAt, seededRandom, type DeviceProfile } from './readings.ts';

const HELP = `Usage: npm run simulator -- [options]

  --url URL            broker URL (env MQTT_URL, default mqtt://localhost:1883)
  --username NAME      (env MQTT_USERNAME)
  --password SECRET    (env MQTT_PASSWORD)
  --devices N          devices to simulate (env SIM_DEVICES, default 10)
  --locations N        locations they are spread over (env SIM_LOCATIONS, default 3)
  --interval-ms MS     time between readings per device (env SIM_INTERVAL_MS, default 5000)
  --qos 0|1|2          (env SIM_QOS, default 1)
  --duration S         stop after S seconds (env SIM_DURATION); runs until stopped when absent
  --seed N             reproducible device profiles and noise (env SIM_SEED, default 1)
  --quiet              no progress line
  --help
`;

export interface SimulatorOptions {
  readonly url: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly devices: number;
  readonly locations: number;
  readonly intervalMs: number;
  readonly qos: 0 | 1 | 2;
  readonly durationS: number | undefined;
  readonly seed: number;
  readonly quiet: boolean;
}

class UsageError extends Error {}

function wholeNumber(name: string, raw: string | undefined, fallback: number | undefined, min: number, max: number): number | undefined {
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): SimulatorOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      url: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' },
      devices: { type: 'string' }, locations: { type: 'string' }, 'interval-ms': { type: 'string' },
      qos: { type: 'string' }, duration: { type: 'string' }, seed: { type: 'string' },
      quiet: { type: 'boolean' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  return {
    url: values.url ?? env.MQTT_URL ?? 'mqtt://localhost:1883',
    username: values.username ?? env.MQTT_USERNAME,
    password: values.password ?? env.MQTT_PASSWORD,
    devices: wholeNumber('devices', values.devices ?? env.SIM_DEVICES, 10, 1, 100_000)!,
    locations: wholeNumber('locations', values.locations ?? env.SIM_LOCATIONS, 3, 1, 10_000)!,
    intervalMs: wholeNumber('interval-ms', values['interval-ms'] ?? env.SIM_INTERVAL_MS, 5000, 10, 86_400_000)!,
    qos: wholeNumber('qos', values.qos ?? env.SIM_QOS, 1, 0, 2) as 0 | 1 | 2,
    durationS: wholeNumber('duration', values.duration ?? env.SIM_DURATION, undefined, 1, 31_536_000),
    seed: wholeNumber('seed', values.seed ?? env.SIM_SEED, 1, 0, 2 ** 32 - 1)!,
    quiet: values.quiet ?? false,
  };
}

const topicOf = (profile: DeviceProfile, kind: 'telemetry' | 'status'): string => `sensors/${profile.location}/${profile.id}/${kind}`;

async function run(options: SimulatorOptions): Promise<number> {
  const startedAtMs = Date.now();
  const profiles = makeProfiles(options.devices, options.locations, options.seed, startedAtMs);
  const random = seededRandom(options.seed ^ 0x5eed);
  const counts = { sent: 0, errors: 0 };
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];

  // Ramp up over one interval instead of connecting the whole fleet at once.
  const rampStepMs = Math.min(50, options.intervalMs / Math.max(1, profiles.length));
  for (const [index, profile] of profiles.entries()) {
    const client = mqtt.connect(options.url, {
      clientId: profile.id,
      ...(options.username !== undefined && { username: options.username }),
      ...(options.password !== undefined && { password: options.password }),
      will: { topic: topicOf(profile, 'status'), payload: Buffer.from('offline'), qos: 1, retain: true },
      reconnectPeriod: 2000,
    });
    clients.push(client);
    client.on('connect', () => {
      client.publish(topicOf(profile, 'status'), 'online', { qos: 1, retain: true });
    });
    client.on('error', (error) => {
      counts.errors += 1;
      if (counts.errors <= 5) process.stderr.write(`simulator: ${profile.id}: ${error.message}\n`);
    });
    const publish = (): void => {
      if (!client.connected) return;
      const reading = readingAt(profile, Date.now(), random);
      client.publish(topicOf(profile, 'telemetry'), JSON.stringify(reading), { qos: options.qos }, (error) => {
        if (error) counts.errors += 1;
        else counts.sent += 1;
      });
    };
    timers.push(setTimeout(() => timers.push(setInterval(publish, options.intervalMs)), index * rampStepMs));
    if (index % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  const progress = setInterval(() => {
    if (options.quiet) return;
    const seconds = (Date.now() - startedAtMs) / 1000;
    process.stderr.write(`\rdevices ${clients.filter((c) => c.connected).length}/${profiles.length}  sent ${counts.sent}  rate ${(counts.sent / seconds).toFixed(1)}/s  errors ${counts.errors}   `);
  }, 1000);

  await new Promise<void>((resolve) => {
    if (options.durationS !== undefined) setTimeout(resolve, options.durationS * 1000);
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(progress);
  for (const timer of timers) clearTimeout(timer);
  // A clean stop: publish `offline` ourselves (a clean disconnect does not fire the will).
  await Promise.all(
    clients.map(async (client, i) => {
      if (client.connected) await client.publishAsync(topicOf(profiles[i]!, 'status'), 'offline', { qos: 1, retain: true }).catch(() => undefined);
      await client.endAsync();
    }),
  );
  const summary = { devices: profiles.length, sent: counts.sent, errors: counts.errors, seconds: (Date.now() - startedAtMs) / 1000 };
  if (!options.quiet) process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return counts.sent === 0 && counts.errors > 0 ? 1 : 0;
}

loadDotenv({ quiet: true });
try {
  const options = parseOptions(process.argv.slice(2), process.env);
  if (options === 'help') {
    process.stdout.write(HELP);
  } else {
    process.exitCode = await run(options);
  }
} catch (error) {
  process.stderr.write(`simulator: ${(error as Error).message}\n${error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? `\n${HELP}` : ''}`);
  process.exitCode = 2;
}
