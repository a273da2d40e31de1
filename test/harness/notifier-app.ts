/**
 * Helpers for notifier tests: a clock that jumps instead of waiting, a logger
 * whose lines the test can read, configurations, Grafana payloads, and a
 * webhook client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { BotConfig, NotifierConfig, Routing } from '../../notifier/config.ts';
import type { Clock } from '../../notifier/delivery/clock.ts';
import type { GrafanaAlert, GrafanaNotification } from '../../notifier/grafana/payload.ts';

export const TOKEN = 'grafana-shared-secret-0123456789';

/**
 * Time moves only when someone sleeps: sleep(ms) advances the clock by ms and
 * yields to I/O. A minute of rate limiting costs microseconds, and the order of
 * events is the same on every run.
 */
export class JumpClock implements Clock {
  #now: number;
  constructor(start = Date.now()) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return;
    this.#now += ms;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface CapturedLog {
  readonly log: Logger;
  readonly lines: () => Record<string, unknown>[];
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: pino({ level, base: null }, stream), lines: () => lines };
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function bot(name: string, platform: 'dingtalk' | 'feishu', url: string, extra: Partial<BotConfig> = {}): BotConfig {
  return { name, platform, url, secret: undefined, keyword: undefined, mentions: { mobiles: [], userIds: [], all: false }, ...extra };
}

export function notifierConfig(queueDir: string, bots: readonly BotConfig[], extra: Partial<NotifierConfig> = {}): NotifierConfig {
  const routing: Routing = { routes: [], defaultBots: bots.map((b) => b.name) };
  return {
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    queueDir,
    language: 'zh',
    timeZone: 'Asia/Shanghai',
    configFile: undefined,
    bots,
    routing,
    maxBodyBytes: 256 * 1024,
    giveUpAfterMs: 24 * 3600_000,
    requestTimeoutMs: 5_000,
    ca: undefined,
    logLevel: 'info',
    ...extra,
  };
}

let counter = 0;

/** One sensorflow alert as Grafana sends it (labels and annotations as docs/grafana.md, "Alert rules", lists them). */
export function deviceAlert(device: string, overrides: Partial<GrafanaAlert> & { labels?: Record<string, string> } = {}): GrafanaAlert {
  counter += 1;
  const labels = { alertname: 'DeviceOffline', severity: 'warning', device, location: 'warehouse-a', group: 'production', grafana_folder: 'sensorflow', ...overrides.labels };
  return {
    status: 'firing',
    annotations: {
      summary_zh: `设备 ${device} 离线`,
      summary_en: `Device ${device} is offline`,
      description_zh: '超过 5 分钟没有数据，检查设备供电和网络。',
      description_en: 'No data for over 5 minutes; check the device power and network.',
    },
    startsAt: '2026-11-23T06:00:00Z',
    endsAt: '0001-01-01T00:00:00Z',
    values: { B: 0, C: 1 },
    generatorURL: `http://grafana.local/alerting/grafana/device-offline/view?n=${counter}`,
    fingerprint: `fp-${device}-${counter}`,
    silenceURL: `http://grafana.local/alerting/silence/new?matcher=device%3D${device}`,
    dashboardURL: 'http://grafana.local/d/sensorflow-devices',
    panelURL: 'http://grafana.local/d/sensorflow-devices?viewPanel=4',
    ...overrides,
    labels,
  };
}

export function notification(alerts: readonly GrafanaAlert[], extra: Partial<GrafanaNotification> = {}): GrafanaNotification {
  return {
    receiver: 'sensorflow-notifier',
    status: alerts.some((alert) => alert.status === 'firing') ? 'firing' : 'resolved',
    orgId: 1,
    alerts,
    groupLabels: { alertname: alerts[0]?.labels.alertname ?? '' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://grafana.local/',
    version: '1',
    groupKey: `{}:{alertname="${alerts[0]?.labels.alertname ?? ''}", n="${alerts[0]?.fingerprint ?? ''}"}`,
    truncatedAlerts: 0,
    title: '[FIRING]',
    state: 'alerting',
    message: '',
    ...extra,
  };
}

export async function postWebhook(port: number, body: string | object, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/grafana/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.text() };
}
