/**
 * A broker backlog: persistent sessions registered first, then N QoS 1
 * telemetry messages published while nobody is connected, so the broker
 * queues every one of them for every session.
 *
 * Messages are the simulator's (4 fields + ts), from `devices` devices over
 * `locations` locations, one second apart per device, in the past.
 */
import mqtt from 'mqtt';
import { readingMessages } from '../../simulator/payloads.ts';
import { makeProfiles, readingAt, seededRandom } from '../../simulator/readings.ts';
import { connectPublisher, publishAll, type OutgoingMessage } from '../../test/harness/publisher.ts';

export const TELEMETRY_FILTER = 'sensors/+/+/telemetry';
export const SESSION_EXPIRY_S = 3600;

export interface BacklogShape {
  readonly messages: number;
  readonly devices: number;
  readonly locations: number;
  /** Timestamp of the first reading; each device's readings are 1 s apart. */
  readonly baseMs: number;
}

/** The backlog's messages, `part` of `parts` (interleaved), generated lazily. */
export function* backlogMessages(shape: BacklogShape, part = 0, parts = 1): Generator<OutgoingMessage> {
  const profiles = makeProfiles(shape.devices, shape.locations, 1, shape.baseMs);
  const random = seededRandom(7 + part);
  for (let i = part; i < shape.messages; i += parts) {
    const profile = profiles[i % shape.devices]!;
    const atMs = shape.baseMs + Math.floor(i / shape.devices) * 1000;
    yield readingMessages(profile, readingAt(profile, atMs, random), 'json')[0]!;
  }
}

/** Creates a persistent MQTT 5 session subscribed to the telemetry, then leaves it. */
export async function registerSession(url: string, clientId: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: SESSION_EXPIRY_S }, reconnectPeriod: 0 });
  await client.subscribeAsync(TELEMETRY_FILTER, { qos: 1 });
  await client.endAsync();
}

/** Publishes the backlog over `connections` connections; returns the seconds it took. */
export async function publishBacklog(url: string, shape: BacklogShape, connections = 4): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async (_, part) => {
      const client = await connectPublisher(url, `bench-publisher-${process.pid}-${part}`);
      try {
        await publishAll(client, backlogMessages(shape, part, connections), { window: 1000 });
      } finally {
        await client.endAsync();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}
