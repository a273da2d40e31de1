/**
 * Which receivers a Grafana 12.0.2 notification policy tree sends an alert
 * to, following Alertmanager's routing exactly (Grafana routes with
 * grafana/alerting, which pins github.com/prometheus/alertmanager v0.25.0
 * (a Grafana fork of it); read at tag v0.25.0 of prometheus/alertmanager):
 *
 * - dispatch/route.go `NewRoute`: a child starts from its parent's options
 *   (receiver, group_by, group_wait, group_interval, repeat_interval) and
 *   overrides only what it sets; the root starts from `DefaultRouteOpts`.
 * - dispatch/route.go `Route.Match`: a route whose matchers do not all hold
 *   matches nothing. Otherwise its children are tried in order; each
 *   matching child adds its own matches, and the first matching child that
 *   does not say `continue: true` stops the search. Only when no child
 *   matched is the route itself the match.
 * - pkg/labels/matcher.go `Matchers.Matches` / `Matcher.Matches`: every
 *   matcher must hold; a label the alert does not have is matched as the
 *   empty string (so `group != x` and `group = ""` hold for an alert
 *   without a group, `group =~ .+` does not); regexes are anchored:
 *   `NewMatcher` compiles `^(?:value)$`.
 * - Before routing, Grafana drops every label whose value is empty
 *   (grafana/alerting notify/grafana_alertmanager.go
 *   `PostableAlertsToAlertmanagerAlerts`, called by `PutAlerts`: "Skip empty
 *   and namespace UID labels"); `routeAlert` does the same here.
 *
 * Go's RE2 and JavaScript regexes agree on the patterns policies use here
 * (`.+`, alternations, character classes); a pattern JavaScript cannot read
 * throws rather than guessing.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly name: string;
  readonly op: MatchOp;
  readonly value: string;
}

/** One route as provisioned (grafana/provisioning/alerting policies.yaml, `policies[]` and `routes[]`). */
export interface ProvisionedRoute {
  readonly receiver?: string;
  readonly group_by?: readonly string[];
  readonly group_wait?: string;
  readonly group_interval?: string;
  readonly repeat_interval?: string;
  readonly object_matchers?: readonly (readonly [string, string, string])[];
  readonly matchers?: readonly string[];
  readonly match?: Readonly<Record<string, string>>;
  readonly match_re?: Readonly<Record<string, string>>;
  readonly continue?: boolean;
  readonly routes?: readonly ProvisionedRoute[];
  readonly orgId?: number;
  readonly mute_time_intervals?: readonly string[];
  readonly active_time_intervals?: readonly string[];
}

/** What an alert reaching a route is sent with: the route's options after inheritance. */
export interface RouteTarget {
  readonly receiver: string;
  readonly groupBy: readonly string[];
  readonly groupWait: string;
  readonly groupInterval: string;
  readonly repeatInterval: string;
  /** The route's position, e.g. "root", "root.routes[0]": which route took the alert. */
  readonly path: string;
}

const KNOWN_KEYS = new Set([
  'receiver', 'group_by', 'group_wait', 'group_interval', 'repeat_interval', 'object_matchers', 'matchers', 'match', 'match_re',
  'continue', 'routes', 'orgId', 'mute_time_intervals', 'active_time_intervals',
]);

interface Node {
  readonly matchers: readonly LabelMatcher[];
  readonly continue: boolean;
  readonly target: RouteTarget;
  readonly children: readonly Node[];
}

/** `NewMatcher`: a regex matches the whole value, never a part of it. */
function matches(matcher: LabelMatcher, value: string): boolean {
  switch (matcher.op) {
    case '=':
      return value === matcher.value;
    case '!=':
      return value !== matcher.value;
    case '=~':
      return new RegExp(`^(?:${matcher.value})$`).test(value);
    case '!~':
      return !new RegExp(`^(?:${matcher.value})$`).test(value);
  }
}

const OPS: readonly MatchOp[] = ['=~', '!~', '!=', '='];

/** A `matchers:` string such as `severity="critical"` or `group=~gate.*` (Alertmanager's matcher syntax, simple form). */
export function parseMatcher(text: string): LabelMatcher {
  const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (match === null) throw new Error(`matcher ${JSON.stringify(text)}: expected name, one of ${OPS.join(' ')}, and a value`);
  const raw = match[3]!;
  const value = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? (JSON.parse(raw) as string) : raw;
  return { name: match[1]!, op: match[2] as MatchOp, value };
}

function matchersOf(route: ProvisionedRoute, path: string): LabelMatcher[] {
  const out: LabelMatcher[] = [];
  for (const [label, value] of Object.entries(route.match ?? {})) out.push({ name: label, op: '=', value });
  for (const [label, value] of Object.entries(route.match_re ?? {})) out.push({ name: label, op: '=~', value });
  for (const text of route.matchers ?? []) out.push(parseMatcher(text));
  for (const triple of route.object_matchers ?? []) {
    const [name, op, value] = triple;
    if (!OPS.includes(op as MatchOp)) throw new Error(`${path}.object_matchers: operator ${JSON.stringify(op)}: expected one of ${OPS.join(' ')}`);
    out.push({ name, op: op as MatchOp, value });
  }
  for (const matcher of out) {
    if (matcher.op === '=~' || matcher.op === '!~') new RegExp(`^(?:${matcher.value})$`); // throws on a pattern we cannot read
  }
  return out;
}

/** `DefaultRouteOpts` in dispatch/route.go. */
const DEFAULTS = { groupBy: [] as readonly string[], groupWait: '30s', groupInterval: '5m', repeatInterval: '4h' };

function build(route: ProvisionedRoute, parent: RouteTarget | undefined, path: string): Node {
  for (const key of Object.keys(route)) {
    if (!KNOWN_KEYS.has(key)) throw new Error(`${path}: unknown key ${key}: this evaluator would ignore it, so it refuses it`);
  }
  if (parent === undefined && matchersOf(route, path).length > 0) throw new Error(`${path}: the root route must match every alert (no matchers), as Alertmanager's config check requires`);
  const base = parent ?? { receiver: '', ...DEFAULTS, path };
  const receiver = route.receiver ?? base.receiver;
  if (receiver === '') throw new Error(`${path}: the root route needs a receiver`);
  const target: RouteTarget = {
    receiver,
    groupBy: route.group_by ?? base.groupBy,
    groupWait: route.group_wait ?? base.groupWait,
    groupInterval: route.group_interval ?? base.groupInterval,
    repeatInterval: route.repeat_interval ?? base.repeatInterval,
    path,
  };
  return {
    matchers: matchersOf(route, path),
    continue: route.continue === true,
    target,
    children: (route.routes ?? []).map((child, index) => build(child, target, `${path}.routes[${index}]`)),
  };
}

/** `Route.Match`. */
function match(node: Node, labels: Readonly<Record<string, string>>): RouteTarget[] | undefined {
  if (!node.matchers.every((matcher) => matches(matcher, labels[matcher.name] ?? ''))) return undefined;
  const all: RouteTarget[] = [];
  for (const child of node.children) {
    const found = match(child, labels);
    if (found !== undefined) all.push(...found);
    if (found !== undefined && !child.continue) break;
  }
  if (all.length === 0) all.push(node.target);
  return all;
}

/** The labels Grafana routes on: empty values dropped (`PostableAlertsToAlertmanagerAlerts`). */
export function labelsAsRouted(labels: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
}

/** A policy tree, ready to route alerts. The root route (a policies[] entry) matches every alert. */
export class RoutingTree {
  readonly #root: Node;

  constructor(root: ProvisionedRoute) {
    this.#root = build(root, undefined, 'root');
  }

  /** Every route that takes the alert, in Alertmanager's order (one notification per entry). */
  route(labels: Readonly<Record<string, string | undefined>>): RouteTarget[] {
    return match(this.#root, labelsAsRouted(labels)) ?? [];
  }

  /** Just the receivers, in order, duplicates kept (a duplicate is a second message). */
  receivers(labels: Readonly<Record<string, string | undefined>>): string[] {
    return this.route(labels).map((target) => target.receiver);
  }
}
