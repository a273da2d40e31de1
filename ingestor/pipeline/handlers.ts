/**
 * The one ordered table of handlers, built from configuration. `Ingest` asks
 * them in this order; the first whose `match` takes the topic decodes the
 * message.
 *
 * 1. EMQX presence (`$SYS/brokers/+/clients/+/connected|disconnected`), only
 *    with PRESENCE_EMQX;
 * 2. status presence (`sensors/+/+/status`): always, the device's own birth
 *    and last will are part of the product;
 * 3. Sparkplug B (`spBv1.0/…`), only with SPARKPLUG, with its own alias state;
 * 4. the routes, in the routes file's order.
 *
 * A flag that is off removes its handler: a message on such a topic (an
 * MQTT_TOPICS that reaches it anyway) goes on to the routes like any other,
 * and is rejected as `topic_unmatched` when none matches.
 */
import type { Handler } from '../contracts.ts';
import { createEmqxPresenceHandler } from '../decoders/presence-emqx.ts';
import { statusPresenceHandler } from '../decoders/presence-status.ts';
import { createSparkplugHandler } from '../decoders/sparkplug.ts';
import type { Route } from '../routes/route.ts';
import { routeHandler } from '../routes/router.ts';

export interface HandlerTableOptions {
  /** PRESENCE_EMQX */
  readonly emqxPresence: boolean;
  /** The ingestor's own MQTT client id: EMQX events about it are not a device's. */
  readonly ownClientId?: string;
  /** PRESENCE_EMQX_SERVICE_USERS (and MQTT_USERNAME): EMQX events about their clients are never a device's. */
  readonly serviceUsers?: readonly string[];
  /** SPARKPLUG */
  readonly sparkplug: boolean;
  /** ROUTES_FILE, or the default route. */
  readonly routes: readonly Route[];
}

/** A new table; each call has its own Sparkplug alias state. */
export function handlerTable(options: HandlerTableOptions): Handler[] {
  return [
    ...(options.emqxPresence ? [createEmqxPresenceHandler(new Set(options.ownClientId === undefined ? [] : [options.ownClientId]), new Set(options.serviceUsers ?? []))] : []),
    statusPresenceHandler,
    ...(options.sparkplug ? [createSparkplugHandler()] : []),
    ...options.routes.map(routeHandler),
  ];
}
