/**
 * The notifier's routes and a missing label. Grafana drops every label whose
 * value is empty before it routes and notifies (grafana/alerting
 * notify/grafana_alertmanager.go `PostableAlertsToAlertmanagerAlerts`, called
 * by `PutAlerts`: "Skip empty and namespace UID labels"), so the webhook body
 * of a device without a registry group has no `group` (and, when unknown, no
 * `location`) label, and a pipeline alert has neither. The notifier must treat
 * a missing label as "no group": no group route takes it; it goes to the
 * routes that match on other labels, else to `default`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Routing } from '../../notifier/config.ts';
import { botsFor, routeNotification } from '../../notifier/routing.ts';
import { deviceAlert, notification } from '../harness/notifier-app.ts';

// The example of docs/notifier.md "Routing groups to bots".
const routing: Routing = {
  routes: [
    { match: { group: ['production'] }, bots: ['production'] },
    { match: { group: ['gateway', 'edge'] }, bots: ['gateway'] },
    { match: { severity: ['critical'] }, bots: ['oncall'] },
  ],
  defaultBots: ['production'],
};

/** The labels as Grafana sends them: empty values already dropped. */
const asSent = (labels: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(labels).filter(([, value]) => value !== ''));

describe('notifier routing with labels Grafana dropped', () => {
  test('a warning of a device without a group goes to default', () => {
    assert.deepEqual(botsFor(asSent({ alertname: 'Device silent', severity: 'warning', device: 'd-1', location: 'hall', group: '' }), routing), ['production']);
  });

  test('a warning without group and location goes to default', () => {
    assert.deepEqual(botsFor(asSent({ alertname: 'Device silent', severity: 'warning', device: 'd-1', location: '', group: '' }), routing), ['production']);
  });

  test('a critical without a group goes to the critical route only (a route matched, so not to default)', () => {
    assert.deepEqual(botsFor(asSent({ alertname: 'Device offline for long', severity: 'critical', device: 'd-1', group: '' }), routing), ['oncall']);
    assert.deepEqual(botsFor({ alertname: 'Ingestor not reporting', severity: 'critical', instance: 'ingestor-1' }, routing), ['oncall']);
  });

  test('a critical of a group reaches its group bot and on-call, once each', () => {
    assert.deepEqual(botsFor({ alertname: 'Device offline for long', severity: 'critical', device: 'g-1', group: 'gateway' }, routing), ['gateway', 'oncall']);
    assert.deepEqual(botsFor({ alertname: 'Device offline for long', severity: 'critical', device: 'p-1', group: 'production' }, routing), ['production', 'oncall']);
  });

  test('an empty label, should one ever arrive, is no group too', () => {
    assert.deepEqual(botsFor({ alertname: 'Device silent', severity: 'warning', device: 'd-1', group: '' }, routing), ['production']);
  });

  test('one Grafana notification with and without groups is split per bot, every alert once per bot', () => {
    const alerts = [
      deviceAlert('no-group', { labels: { group: '', location: '' } }),
      deviceAlert('gw-1', { labels: { group: 'gateway' } }),
    ].map((alert) => ({ ...alert, labels: asSent(alert.labels) }));
    const perBot = routeNotification(notification(alerts), routing);
    assert.deepEqual([...perBot.keys()].sort(), ['gateway', 'production']);
    assert.deepEqual(perBot.get('production')!.alerts.map((alert) => alert.labels.device), ['no-group']);
    assert.deepEqual(perBot.get('gateway')!.alerts.map((alert) => alert.labels.device), ['gw-1']);
    assert.equal(perBot.get('production')!.alerts[0]!.labels.group, undefined);
  });
});
