/** Publishes test messages through a real broker with mqtt.js, bounded in flight. */
import mqtt, { type MqttClient } from 'mqtt';

export interface OutgoingMessage {
  readonly topic: string;
  readonly payload: string | Buffer;
}

export async function connectPublisher(url: string, clientId = `test-publisher-${process.pid}-${Math.random().toString(16).slice(2, 8)}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, protocolVersion: 5 });
}

/**
 * A publisher that rides out broker restarts the way a device should: a
 * persistent session, reconnection, and mqtt.js resending unacknowledged
 * QoS 1 messages after it reconnects.
 */
export async function connectResilientPublisher(url: string, clientId = `test-resilient-${process.pid}-${Math.random().toString(16).slice(2, 8)}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    clientId,
    reconnectPeriod: 250,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
}

/**
 * Publishes every message at QoS 1 and resolves when the broker acknowledged
 * all of them; at most `window` are unacknowledged at once.
 */
export interface PublishOptions {
  /** Unacknowledged messages at most. @default 200 */
  readonly window?: number;
  readonly qos?: 0 | 1 | 2;
  /** Fail when the connection drops (default), or wait for mqtt.js to reconnect and resend. */
  readonly failOnClose?: boolean;
  /** Called with the running count of acknowledged messages. */
  readonly onAck?: (acknowledged: number) => void;
  /** Messages per second at most. */
  readonly ratePerSecond?: number;
}

export async function publishAll(client: MqttClient, messages: Iterable<OutgoingMessage>, options: PublishOptions = {}): Promise<number> {
  const { window = 200, qos = 1, failOnClose = true, onAck, ratePerSecond } = options;
  // A publisher that loses its connection fails the test instead of hanging it.
  let onClose: () => void = () => {};
  const closed = new Promise<never>((_, reject) => {
    onClose = () => reject(new Error('the publisher was disconnected by the broker'));
    if (failOnClose) client.once('close', onClose);
  });
  closed.catch(() => {});
  const inFlight = new Set<Promise<unknown>>();
  let count = 0;
  let acknowledged = 0;
  const started = Date.now();
  try {
    for (const message of messages) {
      if (ratePerSecond !== undefined) {
        const due = started + (count * 1000) / ratePerSecond;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      }
      const publish = client.publishAsync(message.topic, message.payload, { qos }).finally(() => {
        inFlight.delete(publish);
        acknowledged += 1;
        onAck?.(acknowledged);
      });
      inFlight.add(publish);
      count += 1;
      if (inFlight.size >= window) await Promise.race([...inFlight, closed]);
    }
    await Promise.race([Promise.all(inFlight), closed]);
  } finally {
    client.removeListener('close', onClose);
  }
  return count;
}
