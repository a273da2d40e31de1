/**
 * The MQTT source: connects, subscribes, and hands every message to a sink.
 *
 * Acknowledgement is the sink's business: mqtt.js sends the PUBACK (QoS 1) or
 * PUBCOMP (QoS 2) only after `handleMessage`'s callback runs, and we call it
 * only once `sink.accept()` has said yes: at once when it returned nothing
 * (the message is in the log: the usual case, no promise per message), or
 * when the promise it returned settles. mqtt.js handles one packet at a time
 * and waits for that callback, so a sink that pushes back (a full buffer, and
 * later a full write-ahead log) slows the broker down instead of losing data.
 *
 * Draining a backlog, two things keep the hot path lean (measured with
 * `npm run bench`, see docs/performance.md):
 * - Acknowledgements of one turn of the event loop leave in one socket
 *   write. mqtt.js writes each PUBACK on its own (a writev(2) per message,
 *   a quarter of the CPU of a drain), so the first message of a turn corks
 *   the socket and the turn's end uncorks it. Each PUBACK is still queued
 *   only after its message is taken; they just leave together.
 * - The log writes a turn's QoS 1 records in one write(2) too, at the turn's
 *   end (`sink.endTurn()`) and before the uncork: no PUBACK leaves before
 *   its record is written. If the disk refuses that write, the records wait
 *   for room and the socket stays corked until they are written; dropped
 *   instead (the connection closed, shutdown), the socket is destroyed with
 *   the turn's PUBACKs in it.
 * - A turn takes at most MESSAGES_PER_TURN messages (the default budget), then mqtt.js's pump
 *   waits for the next turn, so the shipper's HTTP writes and the timers get
 *   the event loop too. Without it, points reached InfluxDB only once the
 *   backlog was nearly all in the log.
 *
 * Reconnection is ours, not mqtt.js's fixed-period timer: capped exponential
 * backoff with jitter, reset on every successful connection.
 *
 * Subscriptions go one filter per SUBSCRIBE, each after the previous one's
 * SUBACK. EMQX with `authorization.deny_action = disconnect` (the compose
 * stack's broker/emqx/base.hocon) answers a SUBSCRIBE holding any denied
 * filter with a DISCONNECT and subscribes none of its filters
 * (apps/emqx/src/emqx_channel.erl, do_check_sub_authzs, tag v5.8.6): one
 * SUBACK-less filter per connection names the culprit. It is logged once
 * ("check the ACL"), and skipped on later connections until the ingestor
 * restarts, so the other filters keep working instead of an endless reconnect.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { redactUrl } from '../config.ts';
import { connectErrorLine, explainConnectError } from './connect-error.ts';
import type { Logger } from 'pino';
import type { MqttConfig } from '../config.ts';
import type { MessageSink } from '../contracts.ts';
import { backoffDelayMs, type BackoffOptions } from '../util/backoff.ts';

const RECONNECT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000 };
/** Refusals further apart than this are not a streak. */
const REFUSAL_STREAK_RESET_MS = 60_000;
/** MQTT 5 reason code 0x87, "Not authorized", in the DISCONNECT EMQX sends for a denied filter. */
const NOT_AUTHORIZED = 0x87;
/**
 * An MQTT 3.1.1 broker closes the connection without a word: the same filter
 * cut this many times in a row is taken for denied (once could be a broker
 * restart that happened to fall on the SUBSCRIBE).
 */
const CUTS_TO_DENY_WITHOUT_REASON = 2;

/** Why a message was dropped unacknowledged: its connection closed, and the broker redelivers it. */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
  constructor() {
    super('the MQTT connection that delivered the message closed; the broker redelivers it');
  }
}

/** About 5 ms of work per turn of the event loop at ~20 µs per message. */
export const MESSAGES_PER_TURN = 256;

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
    keepalive: config.keepaliveSeconds,
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
  /** True from the first message of a turn of the event loop to the turn's end. */
  #inTurn = false;
  /** The socket is corked for this turn: nothing acknowledged leaves before the turn's end. */
  #corkedTurn = false;
  #messagesThisTurn = 0;
  readonly #messagesPerTurn: number;
  /** Acknowledgements deferred to the turn's end: the done callbacks of turns' last messages. */
  readonly #deferred: ((error?: Error) => void)[] = [];
  /** The stream of the connection messages last came on, and its controller (aborted when it closes). */
  #connectionStream: MqttClient['stream'] | undefined;
  #connection = new AbortController();
  /** A stream to close at the end of the current turn (a connection dropped for a refused message). */
  #endAfterTurn: MqttClient['stream'] | undefined;
  /** Turns whose records wait for the disk: their PUBACKs are held in the corked socket. */
  #turnsWaiting = 0;
  /** Connections dropped for a refused message, in a row: the reconnect backoff grows with them. */
  #drops = 0;
  #lastDropAtMs = 0;
  #connections = 0;
  /** The filter whose SUBSCRIBE is unanswered on the current connection. */
  #pendingFilter: string | undefined;
  /** The current connection was closed by this side (keepalive timeout, a dropped connection, stop). */
  #closedByUs = false;
  /** The reason code of a DISCONNECT the broker sent on the current connection (MQTT 5). */
  #disconnectReason: number | undefined;
  /** Filters whose SUBSCRIBE the broker answered by closing the connection, in a row: filter → times. */
  readonly #cuts = new Map<string, number>();
  /** Filters the broker's ACL denies: skipped until the ingestor restarts. */
  readonly #deniedFilters = new Set<string>();

  /**
   * @param options.messagesPerTurn the turn's budget, @default MESSAGES_PER_TURN.
   *   Tests set it small to reach a turn's end at a message they choose:
   *   how many messages one socket read holds is up to the broker and the
   *   machine's load, not to the test.
   */
  constructor(config: MqttConfig, sink: MessageSink, log: Logger, options: { messagesPerTurn?: number } = {}) {
    const messagesPerTurn = options.messagesPerTurn ?? MESSAGES_PER_TURN;
    if (!Number.isInteger(messagesPerTurn) || messagesPerTurn < 1) {
      throw new RangeError(`MqttSource: messagesPerTurn must be a whole number ≥ 1, got ${String(options.messagesPerTurn)}`);
    }
    this.#config = config;
    this.#sink = sink;
    this.#log = log;
    this.#messagesPerTurn = messagesPerTurn;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Connections made so far: a change tells a (re)connection happened (liveness/catch-up.ts). */
  get connections(): number {
    return this.#connections;
  }

  get disconnectedSinceMs(): number | undefined {
    return this.#disconnectedSinceMs;
  }

  /** Filters found denied by the broker's ACL, skipped until restart. */
  get deniedFilters(): readonly string[] {
    return [...this.#deniedFilters];
  }

  /** Starts connecting; never fails: an unreachable broker is retried with backoff. */
  start(): void {
    // mqtt.js calls its `debug` logger a dozen times per packet, which costs
    // even when off: a no-op unless DEBUG names it (DEBUG=mqttjs* still works).
    const quiet = !/mqttjs|\*/.test(process.env.DEBUG ?? '');
    const client = mqtt.connect(this.#config.url, { ...clientOptions(this.#config), ...(quiet && { log: () => {} }) });
    this.#client = client;
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => this.#handle(packet, done);

    client.on('connect', (connack) => {
      this.#connected = true;
      this.#connections += 1;
      this.#disconnectedSinceMs = undefined;
      this.#attempt = 0;
      this.#lastErrorKey = undefined;
      this.#closedByUs = false;
      this.#disconnectReason = undefined;
      // MQTT_URL may carry user:password@; log it the way describeConfig() does.
      this.#log.info({ url: redactUrl(this.#config.url), sessionPresent: connack.sessionPresent }, 'connected to the MQTT broker');
      this.#subscribe(client);
    });
    client.on('disconnect', (packet) => {
      this.#disconnectReason = packet.reasonCode ?? 0;
    });
    client.on('close', () => {
      const cut = this.#pendingFilter;
      this.#pendingFilter = undefined;
      if (cut !== undefined && !this.#stopping) this.#subscriptionCut(client, cut);
      if (this.#connected) {
        this.#log.warn('disconnected from the MQTT broker');
        this.#disconnectedSinceMs = Date.now();
      }
      this.#connected = false;
      this.#scheduleReconnect(client);
    });
    client.on('error', (error: Error & { code?: number | string }) => {
      if (error.message === 'Keepalive timeout') this.#closedByUs = true;
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
    const filters = this.#config.topics.filter((filter) => !this.#deniedFilters.has(filter));
    this.#subscribeFrom(client, client.stream, filters, 0);
  }

  /** One filter per SUBSCRIBE, the next after this one's SUBACK (see the header). */
  #subscribeFrom(client: MqttClient, stream: MqttClient['stream'], filters: readonly string[], index: number): void {
    const filter = filters[index];
    if (filter === undefined || client.stream !== stream || this.#stopping) return;
    this.#pendingFilter = filter;
    client.subscribe({ [filter]: { qos: this.#config.qos } }, (error, granted) => {
      if (client.stream !== stream) return; // a later connection subscribes for itself
      if (error) {
        // The connection closed before the SUBACK was read: the 'close'
        // handler (#subscriptionCut) says why, once.
        if (stream.destroyed) return;
        this.#pendingFilter = undefined;
        this.#log.error({ topic: filter, error: error.message }, 'subscribing failed; will retry on the next connection');
        return;
      }
      this.#pendingFilter = undefined;
      this.#cuts.delete(filter);
      for (const grant of granted ?? []) {
        if (grant.qos === 128 || grant.qos > 2) {
          this.#log.error({ topic: grant.topic }, `the broker refused the subscription to ${grant.topic}: check the ACL for MQTT_USERNAME`);
        } else {
          this.#log.info({ topic: grant.topic, qos: grant.qos }, 'subscribed');
        }
      }
      this.#subscribeFrom(client, stream, filters, index + 1);
    });
  }

  /**
   * The connection closed with `filter`'s SUBSCRIBE unanswered. A denial when
   * the broker said so (MQTT 5: DISCONNECT 0x87), or, from an MQTT 3.1.1
   * broker, which closes without a word (EMQX: emqx_channel:handle_out/3 sends
   * a DISCONNECT to MQTT 5 clients only), when the same filter is cut again.
   * Not when this side closed the connection (keepalive timeout: a full log
   * holds the packet pump, and the SUBACK waits behind redelivered messages).
   */
  #subscriptionCut(client: MqttClient, filter: string): void {
    const reason = this.#disconnectReason;
    const cuts = (this.#cuts.get(filter) ?? 0) + 1;
    const mqtt5 = client.options.protocolVersion === 5;
    const denied = !this.#closedByUs && (mqtt5 ? reason === NOT_AUTHORIZED : reason === undefined && cuts >= CUTS_TO_DENY_WITHOUT_REASON);
    if (!denied) {
      const silentClose = !this.#closedByUs && !mqtt5 && reason === undefined;
      this.#cuts.set(filter, silentClose ? cuts : 0);
      this.#log.info({ topic: filter, disconnectReason: reason }, 'the connection closed before the broker answered the subscription; will retry on the next connection');
      return;
    }
    this.#cuts.delete(filter);
    this.#deniedFilters.add(filter);
    this.#log.error(
      { topic: filter, username: this.#config.username, disconnectReason: reason },
      `the broker closed the connection in answer to the subscription to ${filter} (EMQX does so when its ACL denies a filter: deny_action = disconnect): ` +
        `check the broker's ACL for MQTT_USERNAME, or take ${filter} out of MQTT_TOPICS (or ROUTES_FILE, SPARKPLUG, PRESENCE_EMQX, whichever adds it); ` +
        'the other filters are subscribed, this one is skipped until the ingestor restarts',
    );
  }

  #scheduleReconnect(client: MqttClient): void {
    if (this.#stopping || this.#reconnectTimer !== undefined) return;
    const delayMs = backoffDelayMs(Math.max(this.#attempt, this.#drops - 1), RECONNECT_BACKOFF);
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
    // QoS 1 messages are redelivered when not acknowledged, so one whose
    // connection is gone is left to its redelivery: taken now, it would be
    // stored twice. (QoS 0 is never redelivered; QoS 2 is not either once
    // mqtt.js sent PUBREC, which it does before handing the message over.)
    const connection = packet.qos === 1 ? this.#connectionSignal() : undefined;
    if (connection?.aborted === true) {
      done(connection.reason as Error);
      return;
    }
    this.#beginTurn();
    this.#messagesThisTurn += 1;
    const lastOfTurn = this.#messagesThisTurn === this.#messagesPerTurn;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    let pending: Promise<void> | undefined;
    try {
      // QoS 1 records may be written at the turn's end, before its PUBACKs leave.
      const atTurnEnd = connection !== undefined && this.#corkedTurn;
      pending = this.#sink.accept({ topic: packet.topic, payload, receivedAtMs: Date.now(), retained: packet.retain, qos: packet.qos }, connection, atTurnEnd);
    } catch (error) {
      this.#refuse(packet, error, done, connection);
      return;
    }
    // The hot path: no closure, no promise. A deferred done runs after the
    // turn's end (registered first): PUBACKs out, budget renewed.
    if (pending === undefined) {
      if (lastOfTurn) this.#deferDone(done);
      else done();
      return;
    }
    pending.then(
      () => (lastOfTurn ? this.#deferDone(done) : done()),
      (error: unknown) => this.#refuse(packet, error, done, connection),
    );
  }

  /**
   * The signal of the connection the message being handled came on, aborted
   * when that connection closes. A connection is known by its stream:
   * packets mqtt.js parsed from a stream that has closed since are still
   * handed over (until the next connection replaces its packet pump), and
   * must be told apart from the new connection's.
   */
  #connectionSignal(): AbortSignal {
    const stream = this.#client?.stream;
    if (stream !== this.#connectionStream) {
      this.#connectionStream = stream;
      const controller = new AbortController();
      this.#connection = controller;
      stream?.once('close', () => controller.abort(new ConnectionClosedError()));
    }
    // Destroyed or ended (by us), with its 'close' event still to come.
    if (stream === undefined || stream.destroyed || stream.writableEnded) this.#connection.abort(new ConnectionClosedError());
    return this.#connection.signal;
  }

  /** The last message of a turn is acknowledged after the turn's end (or at stop, before DISCONNECT). */
  #deferDone(done: (error?: Error) => void): void {
    this.#deferred.push(done);
    if (this.#deferred.length === 1) setImmediate(this.#runDeferred);
  }

  readonly #runDeferred = (): void => {
    // After a turn whose records could not be written, the connection is gone: no acknowledgement.
    const stream = this.#client?.stream;
    const dead = stream === undefined || stream.destroyed || stream.writableEnded;
    for (const done of this.#deferred.splice(0)) {
      if (dead) done(new ConnectionClosedError());
      else done();
    }
  };

  #refuse(packet: IPublishPacket, error: unknown, done: (error?: Error) => void, connection: AbortSignal | undefined): void {
    const reason = error instanceof Error ? error : new Error(String(error));
    if (this.#stopping || connection?.aborted === true) {
      // Expected: shutdown refuses what waits for room in the log, and a
      // closed connection drops what waited on it. The broker redelivers.
      this.#log.debug({ topic: packet.topic, error: reason.message }, 'message not acknowledged; the broker redelivers it');
      done(reason);
      return;
    }
    // Only a bug gets here. Left unacknowledged, the message would hold one
    // of the broker's in-flight slots for the rest of the session (it is
    // never redelivered within it): drop the connection instead, so that the
    // broker redelivers it to the next one.
    this.#log.error({ topic: packet.topic, error: reason.message }, 'message not accepted (a bug): not acknowledging it; reconnecting so that the broker redelivers it');
    this.#dropConnection();
    done(reason);
  }

  /** Closes the connection; 'close' reconnects, with a backoff that grows while refusals repeat. */
  #dropConnection(): void {
    const now = Date.now();
    if (now - this.#lastDropAtMs > REFUSAL_STREAK_RESET_MS) this.#drops = 0;
    this.#drops += 1;
    this.#lastDropAtMs = now;
    const stream = this.#client?.stream;
    if (stream === undefined) return;
    this.#closedByUs = true;
    // Closed with FIN, not reset: a reset makes the broker discard the
    // PUBACKs it has not read yet, and redeliver messages already in the log.
    // And only once the turn's records are written and its PUBACKs out.
    if (this.#inTurn) this.#endAfterTurn = stream;
    else if (this.#turnsWaiting > 0) stream.destroy();
    else stream.end();
  }

  /**
   * At the first message of a turn: cork the socket, and uncork it at the
   * turn's end. setImmediate runs after this turn's I/O callbacks, so after
   * every packet already read has been handled (or the turn's budget is
   * spent), and sends the turn's PUBACKs in one write.
   */
  #beginTurn(): void {
    if (this.#inTurn) return;
    this.#inTurn = true;
    const stream = this.#client?.stream;
    const corked = stream !== undefined && typeof stream.cork === 'function';
    if (corked) stream.cork();
    this.#corkedTurn = corked;
    setImmediate(() => {
      this.#inTurn = false;
      this.#corkedTurn = false;
      this.#messagesThisTurn = 0;
      // The turn's records are written (one write(2)) before its PUBACKs leave.
      const written = this.#sink.endTurn?.();
      const endAfter = this.#endAfterTurn === stream && stream !== undefined;
      this.#endAfterTurn = undefined;
      if (written === undefined) {
        if (corked) stream.uncork();
        if (endAfter) stream.end();
        return;
      }
      // The disk refused them: they wait for it, and the socket stays corked
      // (later turns cork and uncork on top), so none of this turn's PUBACKs
      // leaves before. If they are dropped instead (the connection closed,
      // shutdown), the PUBACKs must never leave: the socket is destroyed.
      this.#turnsWaiting += 1;
      written.then(
        () => {
          this.#turnsWaiting -= 1;
          if (corked) stream.uncork();
          if (endAfter) stream.end();
        },
        (error: unknown) => {
          this.#turnsWaiting -= 1;
          this.#log.debug({ error: (error as Error).message }, 'the messages of a turn were not written: not acknowledging them');
          if (stream === this.#client?.stream) this.#closedByUs = true;
          stream?.destroy();
        },
      );
    });
  }

  /** Stops taking messages and disconnects. Messages not yet accepted stay with the broker. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#reconnectTimer);
    // Deferred acknowledgements of messages already in the log go now, ahead
    // of DISCONNECT: after it, the broker would ignore them and redeliver
    // those messages to the next session (stored twice).
    this.#runDeferred();
    const client = this.#client;
    if (client === undefined) return;
    // mqtt.js's end() waits for SUBSCRIBEs still unanswered and never
    // finishes if the connection closes meanwhile (seen when a turn's records
    // could not be written and its socket was destroyed): a closed
    // connection is stopped too.
    const closed = this.#connected ? new Promise<void>((resolve) => client.once('close', () => resolve())) : undefined;
    await Promise.race([client.endAsync(!this.#connected), ...(closed ? [closed] : [])]);
  }
}

/** mqtt.js errors name a CONNACK code or a TLS failure; say what to check. */
export const describeMqttError = (error: Error & { code?: number | string }): string => connectErrorLine(error);
