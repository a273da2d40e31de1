/**
 * The notifier's figures in Prometheus form, one registry per process.
 * Per-bot series carry a `bot` label; failures carry `reason`
 * (network, server, rate-limited, unexpected-reply, signature, keyword,
 * ip-allowlist, token, certificate, rejected).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

export interface NotifierMetrics {
  readonly registry: Registry;
  /** Webhook requests by outcome: accepted, duplicate, unauthorized, too-large, malformed, invalid, unavailable. */
  readonly requests: Counter<'outcome'>;
  /** Alerts in accepted notifications. */
  readonly alertsReceived: Counter;
  /** Notifications queued per bot (after routing). */
  readonly received: Counter<'bot'>;
  readonly queued: Gauge<'bot'>;
  /** Notifications confirmed delivered (one digest delivers several). */
  readonly delivered: Counter<'bot'>;
  /** Messages the platform accepted. */
  readonly messages: Counter<'bot'>;
  /** Notifications delivered inside a digest. */
  readonly merged: Counter<'bot'>;
  /** Failed send attempts. */
  readonly failed: Counter<'bot' | 'reason'>;
  /** Notifications moved to dead/ (never delivered). */
  readonly givenUp: Counter<'bot'>;
}

export function createMetrics(bots: readonly string[], defaults = true): NotifierMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'notifier_' });
  const registers = [registry];
  const metrics: NotifierMetrics = {
    registry,
    requests: new Counter({ name: 'notifier_webhook_requests_total', help: 'Webhook requests by outcome', labelNames: ['outcome'], registers }),
    alertsReceived: new Counter({ name: 'notifier_alerts_received_total', help: 'Alerts in accepted Grafana notifications', registers }),
    received: new Counter({ name: 'notifier_notifications_received_total', help: 'Notifications queued for a bot', labelNames: ['bot'], registers }),
    queued: new Gauge({ name: 'notifier_notifications_queued', help: 'Notifications waiting on disk for delivery', labelNames: ['bot'], registers }),
    delivered: new Counter({ name: 'notifier_notifications_delivered_total', help: 'Notifications the platform confirmed', labelNames: ['bot'], registers }),
    messages: new Counter({ name: 'notifier_messages_sent_total', help: 'Messages the platform accepted (a digest is one)', labelNames: ['bot'], registers }),
    merged: new Counter({ name: 'notifier_notifications_merged_total', help: 'Notifications delivered inside a digest', labelNames: ['bot'], registers }),
    failed: new Counter({ name: 'notifier_send_failures_total', help: 'Failed send attempts by reason', labelNames: ['bot', 'reason'], registers }),
    givenUp: new Counter({ name: 'notifier_notifications_given_up_total', help: 'Notifications moved to dead/ undelivered', labelNames: ['bot'], registers }),
  };
  for (const bot of bots) {
    for (const counter of [metrics.received, metrics.delivered, metrics.messages, metrics.merged, metrics.givenUp]) counter.inc({ bot }, 0);
    metrics.queued.set({ bot }, 0);
  }
  return metrics;
}
