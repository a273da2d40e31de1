/**
 * Which bots get which alerts. Every route whose labels all match adds its
 * bots; an alert that no route matches goes to the default bots. Each bot gets
 * one notification holding only its alerts, so one Grafana notification can
 * reach a group's bot and the on-call bot at once. Pure.
 */
import type { Routing } from './config.ts';
import type { GrafanaAlert, GrafanaNotification } from './grafana/payload.ts';

export function botsFor(labels: Readonly<Record<string, string>>, routing: Routing): string[] {
  const bots = new Set<string>();
  let matched = false;
  for (const route of routing.routes) {
    const matches = Object.entries(route.match).every(([label, values]) => labels[label] !== undefined && values.includes(labels[label]));
    if (!matches) continue;
    matched = true;
    for (const bot of route.bots) bots.add(bot);
  }
  if (!matched) for (const bot of routing.defaultBots) bots.add(bot);
  return [...bots];
}

/** bot name → the notification for it (same envelope, its alerts only). */
export function routeNotification(notification: GrafanaNotification, routing: Routing): Map<string, GrafanaNotification> {
  const perBot = new Map<string, GrafanaAlert[]>();
  for (const alert of notification.alerts) {
    for (const bot of botsFor(alert.labels, routing)) {
      const alerts = perBot.get(bot) ?? [];
      alerts.push(alert);
      perBot.set(bot, alerts);
    }
  }
  const result = new Map<string, GrafanaNotification>();
  for (const [bot, alerts] of perBot) {
    result.set(bot, { ...notification, status: alerts.some((alert) => alert.status === 'firing') ? 'firing' : 'resolved', alerts });
  }
  return result;
}
