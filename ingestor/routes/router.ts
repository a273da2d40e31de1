/** Routes → one decoder: the first route whose template matches the topic decodes it. Pure. */
import { reject, type Decoder, type InboundMessage } from '../decoders/types.ts';
import { applyRoute, type Route, type RouteLimits } from './route.ts';

export function createRouter(routes: readonly Route[], limits: RouteLimits): Decoder {
  return (message: InboundMessage) => {
    for (const route of routes) {
      const captures = route.template.match(message.topic);
      if (captures !== null) return applyRoute(route, captures, message, limits);
    }
    return reject('topic_unmatched', `no route matches the topic (routes: ${routes.map((r) => r.name).join(', ')})`);
  };
}

/** The MQTT filters the routes need, without duplicates, in route order. */
export const routeFilters = (routes: readonly Route[]): string[] => [...new Set(routes.map((r) => r.template.filter))];
