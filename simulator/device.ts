/**
 * One simulated device: its own MQTT connection (client id = device id), a
 * retained `online` birth, an `offline` last will, readings every interval,
 * and the trouble a real device gets into (dropping off, restarting, a stuck
 * sensor, spikes, silence), each told to the event log.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { explainConnectError, type ConnectSettingNames } from '../ingestor/sources/connect-error.ts';
import type { SimulatorOptions } from './options.ts';
import { MALFORMED_PAYLOADS, readingMessages, statusTopic, telemetryTopic } from './payloads.ts';
import { readingAt, type DeviceProfile, type Reading } from './readings.ts';

export type EventLog = (device: string, event: string, details?: Record<string, unknown>) => void;

export interface Counters {
  sent: number;
  errors: number;
  /** The latest connection error, "cause (code)": the summary says why when --quiet hides the event log. */
  lastConnectError?: string;
}

/** Connection error hints name the simulator's flags. */
const SIMULATOR_SETTINGS: ConnectSettingNames = { url: '--url', ca: '--ca', cert: '--cert and --key', credentials: '--username and --password' };

export class SimDevice {
  readonly profile: DeviceProfile;
  readonly #options: SimulatorOptions;
  readonly #connectOptions: IClientOptions;
  readonly #random: () => number;
  readonly #log: EventLog;
  readonly #counters: Counters;
  #client: MqttClient | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  /** The last connection error told to the event log: told again only when it changes. */
  #lastErrorKey: string | undefined;
  #offlineUntilMs = 0;
  #silentUntilMs = 0;
  #stuckUntilMs = 0;
  #stuckReading: Reading | undefined;
  #oneShot: 'spike' | 'out_of_range' | undefined;
  readonly #overrides = new Map<string, { value: number; untilMs: number }>();

  constructor(profile: DeviceProfile, options: SimulatorOptions, connectOptions: IClientOptions, random: () => number, log: EventLog, counters: Counters) {
    this.profile = profile;
    this.#options = options;
    this.#connectOptions = connectOptions;
    this.#random = random;
    this.#log = log;
    this.#counters = counters;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  start(): void {
    const client = mqtt.connect(this.#options.url, {
      ...this.#connectOptions,
      clientId: this.profile.id,
      will: { topic: statusTopic(this.profile), payload: Buffer.from('offline'), qos: 1, retain: true },
      reconnectPeriod: 0, // reconnection is ours: a device that is "offline" must stay away
    });
    this.#client = client;
    client.on('connect', () => {
      this.#lastErrorKey = undefined;
      client.publish(statusTopic(this.profile), 'online', { qos: 1, retain: true });
    });
    client.on('close', () => {
      if (this.#stopping || this.#reconnectTimer !== undefined) return;
      const delayMs = Math.max(2000, this.#offlineUntilMs - Date.now());
      this.#reconnectTimer = setTimeout(() => {
        this.#reconnectTimer = undefined;
        if (this.#stopping) return;
        // After a drop (the connection cut, not end()), QoS 1 messages still waiting for their PUBACK stay in
        // client.outgoing; a plain reconnect() starts with new stores, so they are never sent again, never
        // acknowledged, and the clean end() at stop waits for them for ever. Keep the stores: they are resent,
        // as a real device with a session does. After end() (a restart) the stores are closed: fresh ones.
        if (client.disconnected) client.reconnect();
        else client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
      }, delayMs);
    });
    client.on('error', (error: Error & { code?: number | string }) => {
      this.#counters.errors += 1;
      const { key, cause, hint } = explainConnectError(error, SIMULATOR_SETTINGS);
      this.#counters.lastConnectError = `${cause ?? error.message} (${key})`;
      if (key === this.#lastErrorKey) return;
      this.#lastErrorKey = key;
      this.#log(this.profile.id, 'connect_error', { code: key, cause: cause ?? error.message, ...(hint !== undefined && { hint }) });
    });
    this.#timer ??= setInterval(() => this.#tick(), this.#options.intervalMs);
  }

  #tick(): void {
    const client = this.#client;
    const now = Date.now();
    if (client === undefined || !client.connected || now < this.#silentUntilMs) return;
    let reading = readingAt(this.profile, now, this.#random);
    if (now < this.#stuckUntilMs) {
      this.#stuckReading ??= reading;
      reading = { ...this.#stuckReading, ts: now };
    } else {
      this.#stuckReading = undefined;
    }
    if (this.#oneShot === 'spike') reading = { ...reading, temperature: Math.round((reading.temperature + 15) * 100) / 100 };
    if (this.#oneShot === 'out_of_range') reading = { ...reading, temperature: 85, humidity: 120 };
    this.#oneShot = undefined;
    for (const [field, override] of this.#overrides) {
      if (now >= override.untilMs) this.#overrides.delete(field);
      else reading = { ...reading, [field]: override.value };
    }
    for (const message of readingMessages(this.profile, reading, this.#options.format)) this.#publish(message.topic, message.payload);
  }

  #publish(topic: string, payload: string): void {
    this.#client?.publish(topic, payload, { qos: this.#options.qos }, (error) => {
      if (error) this.#counters.errors += 1;
      else this.#counters.sent += 1;
    });
  }

  /** Drops off without a clean disconnect (the broker publishes the last will) for `forMs`. */
  drop(forMs: number, cause: string): void {
    this.#offlineUntilMs = Date.now() + forMs;
    this.#log(this.profile.id, 'offline', { cause, for_s: Math.round(forMs / 1000), how: 'connection cut, last will fires' });
    this.#client?.stream.destroy();
  }

  /** A clean restart: says offline, disconnects, is back a few seconds later. */
  restart(cause: string): void {
    const client = this.#client;
    if (client === undefined || !client.connected) return;
    this.#log(this.profile.id, 'restart', { cause });
    this.#offlineUntilMs = Date.now() + 3000;
    // end() closes the stream; the close handler brings the device back.
    client.publish(statusTopic(this.profile), 'offline', { qos: 1, retain: true }, () => client.end(false));
  }

  silence(forMs: number, cause: string): void {
    this.#silentUntilMs = Date.now() + forMs;
    this.#log(this.profile.id, 'silent', { cause, for_s: Math.round(forMs / 1000), how: 'connected, publishing nothing' });
  }

  stick(forMs: number, cause: string): void {
    this.#stuckUntilMs = Date.now() + forMs;
    this.#log(this.profile.id, 'stuck', { cause, for_s: Math.round(forMs / 1000), how: 'the same reading repeated' });
  }

  anomaly(kind: 'spike' | 'out_of_range', cause: string): void {
    this.#oneShot = kind;
    this.#log(this.profile.id, kind, { cause });
  }

  set(field: string, value: number, forMs: number, cause: string): void {
    this.#overrides.set(field, { value, untilMs: Date.now() + forMs });
    this.#log(this.profile.id, 'set', { cause, field, value, for_s: Math.round(forMs / 1000) });
  }

  malformed(count: number, cause: string): void {
    this.#log(this.profile.id, 'malformed', { cause, count });
    for (let i = 0; i < count; i += 1) this.#publish(telemetryTopic(this.profile), MALFORMED_PAYLOADS[i % MALFORMED_PAYLOADS.length] as string);
  }

  /** A clean stop: `offline` said by the device itself (a clean disconnect does not fire the will). */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    if (client === undefined) return;
    if (client.connected) await client.publishAsync(statusTopic(this.profile), 'offline', { qos: 1, retain: true }).catch(() => undefined);
    await client.endAsync(!client.connected);
  }
}
