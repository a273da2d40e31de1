/** Routes → handlers, one each, in file order: the first route whose template matches the topic decodes it. Pure. */
import type { Handler } from '../contracts.ts';
import { applyRoute, type Route } from './route.ts';

export function routeHandler(route: Route): Handler {
  return {
    name: route.name,
    match: (topic) => route.template.match(topic),
    decode: (message, { captures, bounds }) => applyRoute(route, captures, message, bounds),
  };
}

/** The MQTT filters the routes need, without duplicates, in route order. */
export const routeFilters = (routes: readonly Route[]): string[] => [...new Set(routes.map((r) => r.template.filter))];
