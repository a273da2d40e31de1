/**
 * Load mode: a few connections publishing as fast as asked (`--rate` in all,
 * 0 = as fast as possible), with a bounded number of unacknowledged messages
 * per connection. Used by benchmarks; reports achieved rate, acknowledged
 * count and errors. The rate is over the whole fleet (up to 100,000 distinct
 * device ids, each in turn), and at `--trouble-at` a share of the devices
 * goes offline (a retained "offline" status with its time, as a last will
 * says it) and a share falls silent (trouble.ts): from then on they publish
 * nothing and the rate is shared by the others.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { redactUrl } from '../ingestor/config.ts';
import { connectOptions, type RunResult } from './fleet.ts';
import type { SimulatorOptions } from './options.ts';
import { readingMessages } from './payloads.ts';
import { statusTopic } from './payloads.ts';
import { makeProfiles, readingAt, seededRandom } from './readings.ts';
import { troublePlan } from './trouble.ts';

/** Unacknowledged messages per connection at most: keeps memory flat at any rate. */
const WINDOW = 1000;

export async function runLoad(options: SimulatorOptions, stopSignal: Promise<void>): Promise<RunResult> {
  let clients: MqttClient[];
  try {
    clients = await Promise.all(
      Array.from({ length: options.connections }, (_, i) =>
        mqtt.connectAsync(options.url, { ...connectOptions(options), clientId: `sim-load-${options.seed}-${i}`, reconnectPeriod: 0 }),
      ),
    );
  } catch (error) {
    return { summary: { mode: 'load', error: `cannot reach the broker at ${redactUrl(options.url)}: ${(error as Error).message}` }, exitCode: 1 };
  }
  const profiles = makeProfiles(options.devices, options.locations, options.seed, Date.now());
  const random = seededRandom(options.seed);
  const counts = { sent: 0, acked: 0, errors: 0 };
  const inFlight = new Array<number>(clients.length).fill(0);
  let stopped = false;
  void stopSignal.then(() => (stopped = true));
  const startedAtMs = Date.now();
  const deadline = options.durationS === undefined ? Infinity : startedAtMs + options.durationS * 1000;
  const rate = options.rate ?? 0;

  const plan = troublePlan(profiles.length, options.offlineShare, options.silentShare);
  const inTrouble = plan.offline + plan.silent;
  let troubleStarted = false;
  const startTrouble = (): void => {
    troubleStarted = true;
    const atMs = Date.now();
    for (let i = 0; i < plan.offline; i += 1) {
      counts.sent += 1;
      clients[i % clients.length]!.publish(statusTopic(profiles[i]!), JSON.stringify({ online: false, ts: atMs }), { qos: options.qos, retain: true }, (error) => {
        if (error) counts.errors += 1;
        else counts.acked += 1;
      });
    }
  };

  let next = 0;
  const publishOne = (): boolean => {
    const connection = next % clients.length;
    if (inFlight[connection]! >= WINDOW && options.qos > 0) return false;
    // Devices in trouble (the first `inTrouble` of the fleet) are skipped once the cue has passed.
    if (troubleStarted && inTrouble > 0 && next % profiles.length < inTrouble) {
      if (inTrouble >= profiles.length) return false;
      next += inTrouble - (next % profiles.length);
    }
    const profile = profiles[next % profiles.length]!;
    next += 1;
    const [message] = readingMessages(profile, readingAt(profile, Date.now(), random), options.format);
    inFlight[connection]! += 1;
    counts.sent += 1;
    clients[connection]!.publish(message!.topic, message!.payload, { qos: options.qos }, (error) => {
      inFlight[connection]! -= 1;
      if (error) counts.errors += 1;
      else counts.acked += 1;
    });
    return true;
  };

  while (!stopped && Date.now() < deadline) {
    if (!troubleStarted && inTrouble > 0 && Date.now() - startedAtMs >= options.troubleAtS * 1000) startTrouble();
    const due = rate === 0 ? counts.sent + WINDOW * clients.length : Math.floor(((Date.now() - startedAtMs) * rate) / 1000);
    let published = 0;
    while (counts.sent < due && published < 5000 && publishOne()) published += 1;
    // Yield to the event loop: acknowledgements come in there.
    await new Promise((resolve) => setTimeout(resolve, rate === 0 ? 0 : 5));
  }
  const seconds = (Date.now() - startedAtMs) / 1000;
  const drainUntil = Date.now() + 10_000;
  while (counts.acked + counts.errors < counts.sent && Date.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 20));
  await Promise.all(clients.map((client) => client.endAsync()));
  return {
    summary: { mode: 'load', connections: clients.length, devices: profiles.length, offline: troubleStarted ? plan.offline : 0, silent: troubleStarted ? plan.silent : 0, targetRate: rate, sent: counts.sent, acked: counts.acked, errors: counts.errors, seconds, achievedRate: Math.round(counts.sent / seconds) },
    exitCode: counts.errors > 0 && counts.acked === 0 ? 1 : 0,
  };
}
