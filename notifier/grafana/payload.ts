/**
 * Grafana's webhook notification, version 1: the types and a JSON Schema check.
 *
 * Field list from Grafana's documentation ("Configure the webhook notifier for
 * Alerting", grafana/grafana docs/sources/alerting/configure-notifications/
 * manage-contact-points/integrations/webhook-notifier.md). Only what the
 * notifier reads is required; fields Grafana adds later pass through.
 */
import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject } from 'ajv';

export type AlertStatus = 'firing' | 'resolved';

export interface GrafanaAlert {
  readonly status: AlertStatus;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  /** `0001-01-01T00:00:00Z` while firing. */
  readonly endsAt: string;
  readonly values?: Readonly<Record<string, number | null>> | null;
  readonly valueString?: string;
  readonly generatorURL?: string;
  readonly fingerprint?: string;
  readonly silenceURL?: string;
  readonly dashboardURL?: string;
  readonly panelURL?: string;
  readonly imageURL?: string;
}

export interface GrafanaNotification {
  readonly receiver: string;
  readonly status: AlertStatus;
  readonly orgId?: number;
  readonly alerts: readonly GrafanaAlert[];
  readonly groupLabels?: Readonly<Record<string, string>>;
  readonly commonLabels?: Readonly<Record<string, string>>;
  readonly commonAnnotations?: Readonly<Record<string, string>>;
  readonly externalURL?: string;
  readonly version: string;
  readonly groupKey?: string;
  readonly truncatedAlerts?: number;
  readonly title?: string;
  readonly state?: string;
  readonly message?: string;
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const optionalString = { type: 'string' } as const;

const schema = {
  type: 'object',
  required: ['receiver', 'status', 'alerts', 'version'],
  properties: {
    receiver: { type: 'string' },
    status: { enum: ['firing', 'resolved'] },
    version: { const: '1' },
    orgId: { type: 'number' },
    groupLabels: stringMap,
    commonLabels: stringMap,
    commonAnnotations: stringMap,
    externalURL: optionalString,
    groupKey: optionalString,
    truncatedAlerts: { type: 'number' },
    title: optionalString,
    state: optionalString,
    message: optionalString,
    alerts: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['status', 'labels', 'annotations', 'startsAt', 'endsAt'],
        properties: {
          status: { enum: ['firing', 'resolved'] },
          labels: stringMap,
          annotations: stringMap,
          startsAt: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T' },
          endsAt: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T' },
          values: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: { type: ['number', 'null'] } }] },
          valueString: optionalString,
          generatorURL: optionalString,
          fingerprint: optionalString,
          silenceURL: optionalString,
          dashboardURL: optionalString,
          panelURL: optionalString,
          imageURL: optionalString,
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: false, strict: true }).compile<GrafanaNotification>(schema);

export type ParseResult = { readonly ok: true; readonly notification: GrafanaNotification } | { readonly ok: false; readonly reason: string };

function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? 'the body' : error.instancePath.slice(1).replaceAll('/', '.');
  if (error.keyword === 'const' && error.instancePath === '/version') return 'version must be "1" (Grafana\'s webhook payload version 1)';
  if (error.keyword === 'enum') return `${where} must be one of ${(error.params as { allowedValues: string[] }).allowedValues.join(', ')}`;
  return `${where} ${error.message ?? 'is invalid'}`;
}

/** Parses and checks a request body. The reason names the first problem, for a 400 reply. */
export function parseNotification(body: Buffer): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: `malformed JSON: ${(error as Error).message}` };
  }
  if (!validate(value)) {
    const first = validate.errors?.[0];
    return { ok: false, reason: `not a Grafana webhook notification (version 1): ${first === undefined ? 'invalid' : describe(first)}` };
  }
  return { ok: true, notification: value };
}

/**
 * A stable identity for one notification's content: the same Grafana
 * notification sent twice (Grafana retries when our reply is late or lost)
 * gets the same id, so it is queued once.
 */
export function notificationId(notification: GrafanaNotification): string {
  const key = JSON.stringify([
    notification.groupKey ?? '',
    notification.status,
    notification.alerts.map((alert) => [alert.fingerprint ?? JSON.stringify(alert.labels), alert.status, alert.startsAt, alert.endsAt]),
  ]);
  return createHash('sha256').update(key).digest('hex').slice(0, 24);
}
