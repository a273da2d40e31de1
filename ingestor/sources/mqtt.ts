/**
 * The MQTT source: connects, subscribes, and hands every message to a sink.
 *
 * Acknowledgement is the sink's business: mqtt.js sends the PUBACK (QoS 1) or
 * PUBCOMP (QoS 2) only after `handleMessage`'s callback runs, and we call it
 * only once `sink.accept()` has settled. mqtt.js handles one packet at a time
 * and waits for that callback, so a sink that pushes back (a full buffer, and
 * later a full write-ahead log) slows the broker down instead of losing data.
 *
 * Reconnection is ours, not mqtt.js's fixed-period timer: capped exponential
 * backoff with jitter, reset on every successful connection.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { redactUrl } from '../config.ts';
import { connectErrorLine, explainConnectError } from './connect-error.ts';
import type { Logger } from 'pino';
import type { MqttConfig } from '../config.ts';
import type { MessageSink } from '../contracts.ts';
import { backoffDelayMs, type BackoffOptions } from '../util/backoff.ts';

const RECONNECT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000 };

export function clientOptions(config: MqttConfig): IClientOptions {
  return {
    clientId: config.clientId,
    clean: !config.persistentSession,
    protocolVersion: config.protocolVersion,
    ...(config.protocolVersion === 5 &&
      config.persistentSession && { properties: { sessionExpiryInterval: config.sessionExpirySeconds } }),
    ...(config.username !== undefined && { username: config.username }),
    ...(config.password !== undefined && { password: config.password }),
    ...(config.ca !== undefined && { ca: config.ca }),
    ...(config.cert !== undefined && { cert: config.cert }),
    ...(config.key !== undefined && { key: config.key }),
    reconnectPeriod: 0, // we reconnect ourselves, with backoff
    resubscribe: false, // we subscribe on every connect
    connectTimeout: 10_000,
  };
}

export class MqttSource {
  readonly #config: MqttConfig;
  readonly #sink: MessageSink;
  readonly #log: Logger;
  #client: MqttClient | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #stopping = false;
  #connected = false;
  /** When the connection was lost (or the source started), for /readyz; undefined while connected. */
  #disconnectedSinceMs: number | undefined = Date.now();
  /** The last connection error said at error level: the same one again is not repeated until something changes. */
  #lastErrorKey: string | undefined;

  constructor(config: MqttConfig, sink: MessageSink, log: Logger) {
    this.#config = config;
    this.#sink = sink;
    this.#log = log;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get disconnectedSinceMs(): number | undefined {
    return this.#disconnectedSinceMs;
  }

  /** Starts connecting; never fails: an unreachable broker is retried with backoff. */
  start(): void {
    const client = mqtt.connect(this.#config.url, clientOptions(this.#config));
    this.#client = client;
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => this.#handle(packet, done);

    client.on('connect', (connack) => {
      this.#connected = true;
      this.#disconnectedSinceMs = undefined;
      this.#attempt = 0;
      this.#lastErrorKey = undefined;
      // MQTT_URL may carry user:password@; log it the way describeConfig() does.
      this.#log.info({ url: redactUrl(this.#config.url), sessionPresent: connack.sessionPresent }, 'connected to the MQTT broker');
      this.#subscribe(client);
    });
    client.on('close', () => {
      if (this.#connected) {
        this.#log.warn('disconnected from the MQTT broker');
        this.#disconnectedSinceMs = Date.now();
      }
      this.#connected = false;
      this.#scheduleReconnect(client);
    });
    client.on('error', (error: Error & { code?: number | string }) => {
      if (error.code === 1 && client.options.protocolVersion === 5) {
        // CONNACK 1, "unacceptable protocol version": an MQTT 3.1.1 broker
        // (aedes, older Mosquitto setups). Speak 3.1.1 from the next attempt.
        this.#log.warn('the broker refused MQTT 5; falling back to MQTT 3.1.1 (set MQTT_PROTOCOL_VERSION=4 to skip this)');
        client.options.protocolVersion = 4;
        delete client.options.properties;
        return;
      }
      // Once per distinct cause, not once per retry: an expired certificate
      // would otherwise repeat the same line for as long as nobody fixes it.
      const { key } = explainConnectError(error);
      if (key === this.#lastErrorKey) {
        this.#log.debug({ error: error.message, code: key }, 'MQTT error (same as before)');
        return;
      }
      this.#lastErrorKey = key;
      this.#log.error({ error: error.message, code: key }, `MQTT error: ${connectErrorLine(error)}`);
    });
  }

  #subscribe(client: MqttClient): void {
    const topics = Object.fromEntries(this.#config.topics.map((topic) => [topic, { qos: this.#config.qos }]));
    client.subscribe(topics, (error, granted) => {
      if (error) {
        this.#log.error({ error: error.message }, 'subscribing failed; will retry on the next connection');
        return;
      }
      for (const grant of granted ?? []) {
        if (grant.qos === 128 || grant.qos > 2) {
          this.#log.error({ topic: grant.topic }, `the broker refused the subscription to ${grant.topic}: check the ACL for MQTT_USERNAME`);
        } else {
          this.#log.info({ topic: grant.topic, qos: grant.qos }, 'subscribed');
        }
      }
    });
  }

  #scheduleReconnect(client: MqttClient): void {
    if (this.#stopping || this.#reconnectTimer !== undefined) return;
    const delayMs = backoffDelayMs(this.#attempt, RECONNECT_BACKOFF);
    this.#attempt += 1;
    // Each retry names the last error, so a retry loop is never silent about why.
    this.#log.info({ delayMs, attempt: this.#attempt, lastError: this.#lastErrorKey }, 'reconnecting to the MQTT broker');
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#stopping) client.reconnect();
    }, delayMs);
  }

  #handle(packet: IPublishPacket, done: (error?: Error) => void): void {
    if (this.#stopping) {
      // No acknowledgement: the broker redelivers it to the next session.
      done(new Error('ingestor is stopping'));
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.#sink.accept({ topic: packet.topic, payload, receivedAtMs: Date.now(), retained: packet.retain, qos: packet.qos }).then(
      () => done(),
      (error: unknown) => {
        this.#log.error({ topic: packet.topic, error: (error as Error).message }, 'message not accepted; not acknowledging it');
        done(error as Error);
      },
    );
  }

  /** Stops taking messages and disconnects. Messages not yet accepted stay with the broker. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    if (client === undefined) return;
    await client.endAsync(!this.#connected);
  }
}

/** mqtt.js errors name a CONNACK code or a TLS failure; say what to check. */
export const describeMqttError = (error: Error & { code?: number | string }): string => connectErrorLine(error);
