/**
 * What Grafana does with our dashboards and alert rules, done here so the
 * tests can run it against a real InfluxDB (Grafana itself cannot run on
 * these machines). Each piece follows Grafana's source:
 * - provisioning values: `$VAR`/`${VAR}` expansion with `$$` as a literal `$`
 *   (pkg/services/provisioning/values/values.go, Go's os.ExpandEnv);
 * - panel queries: template variables (multi-value as `(a|b)` with regex
 *   escaping, All as the variable's allValue), then the InfluxQL backend's
 *   `$timeFilter` (`time >= {from}ms and time <= {to}ms`), `$__interval`,
 *   `$__interval_ms` and `$interval` (pkg/tsdb/influxdb/influxql);
 * - alert rules: each query over its relativeTimeRange, one series per value
 *   column and GROUP BY tag set (the tags become labels), then server-side
 *   expressions: reduce (last/mean/min/max/sum/count, dropNN), threshold
 *   (gt/lt/within_range/outside_range) and math, joining series whose labels
 *   are equal or one a subset of the other (pkg/expr/mathexp union), and the
 *   `for` state machine (Normal → Pending → Alerting);
 * - nil, NaN and NoData as Grafana 12.0.2 has them (issue 23, finding 10):
 *   a `dropNN` reduce of a series with no number left is nil
 *   (pkg/expr/mathexp/reduce.go, the DropNonNumber mapper empties the series,
 *   and a reducer of an empty series gives nil; `count` gives 0); math or a
 *   threshold with a nil operand is nil (pkg/expr/mathexp/binary.go: a nil
 *   operand yields a nil value); a nil condition value is NoData for THAT
 *   instance, and any other non-zero value, NaN included, is Alerting
 *   (pkg/services/ngalert/eval/eval.go, `evaluateExecutionResult`: "Nonzero
 *   (e.g 1.2, NaN) results in Alerting. nil results in noData."; read in
 *   grafana/grafana's eval.go as stored at commit 0015b06b); the instance's
 *   NoData then goes through the rule's noDataState like a whole-rule NoData
 *   (state/manager.go, `setNextState` → `resultNoData` / `resultKeepLast`).
 */

// ------------------------------------------------------- provisioning values

const SPECIAL = new Set(['*', '#', '$', '@', '!', '?', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
const isNameChar = (c: string): boolean => /[A-Za-z0-9_]/.test(c);

/** Go's os.Expand with a map: `$NAME`, `${NAME}`; bad syntax is eaten, a lone `$` kept. */
function goExpand(s: string, env: Readonly<Record<string, string | undefined>>): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    if (s[i] === '$' && i + 1 < s.length) {
      const rest = s.slice(i + 1);
      let name = '';
      let width = 0;
      if (rest[0] === '{') {
        if (rest.length > 2 && SPECIAL.has(rest[1]!) && rest[2] === '}') {
          name = rest[1]!;
          width = 3;
        } else {
          const close = rest.indexOf('}');
          if (close === -1) width = 1; // "${" with no end: eaten
          else if (close === 1) width = 2; // "${}": eaten
          else {
            name = rest.slice(1, close);
            width = close + 1;
          }
        }
      } else if (SPECIAL.has(rest[0]!)) {
        name = rest[0]!;
        width = 1;
      } else {
        while (width < rest.length && isNameChar(rest[width]!)) width += 1;
        name = rest.slice(0, width);
      }
      if (name === '' && width > 0) {
        // invalid syntax: eaten
      } else if (name === '') {
        out += '$';
      } else {
        out += env[name] ?? '';
      }
      i += 1 + width;
    } else {
      out += s[i];
      i += 1;
    }
  }
  return out;
}

/** Grafana's interpolateValue: `$$` is a literal `$`, the rest goes through os.ExpandEnv. */
export function expandProvisioningValue(value: string, env: Readonly<Record<string, string | undefined>>): string {
  return value.split('$$').map((part) => goExpand(part, env)).join('$');
}

// Rule annotations and query models are not expanded at all in Grafana 12.0.2:
// rules_types.go's mapToModel takes `rule.Annotations.Raw` and the model's Raw
// (braced `${VAR}` expansion of annotations was proposed only later: grafana
// pull requests #119773, #127214, #128223), so they need no function here.

// ----------------------------------------------------------- panel queries

export interface VariableValue {
  /** Selected values; ignored when `all`. */
  readonly values: readonly string[];
  readonly all?: boolean;
  readonly allValue?: string;
}

/** The Influx datasource's regex escaping of a multi-value variable's values. */
export function influxRegexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|{}[\]/]/g, (c) => `\\${c}`);
}

function variableText(value: VariableValue): string {
  if (value.all === true) return value.allValue ?? `(${value.values.map(influxRegexEscape).join('|')})`;
  const escaped = value.values.map(influxRegexEscape);
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

/** Grafana's kbn.roundInterval: the "nice" interval near (to - from) / maxDataPoints. */
export function roundInterval(ms: number): number {
  const table: [number, number][] = [
    [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000], [3500, 2000], [7500, 5000],
    [12500, 10000], [17500, 15000], [25000, 20000], [45000, 30000], [90000, 60000], [210000, 120000],
    [450000, 300000], [750000, 600000], [1050000, 900000], [1500000, 1200000], [2700000, 1800000],
    [5400000, 3600000], [9000000, 7200000], [16200000, 10800000], [32400000, 21600000], [86400000, 43200000],
    [604800000, 86400000], [1814400000, 604800000], [3628800000, 2592000000],
  ];
  for (const [limit, value] of table) if (ms <= limit) return value;
  return 31536000000;
}

export function intervalText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export interface PanelQueryContext {
  readonly fromMs: number;
  readonly toMs: number;
  /** The datasource's "Min time interval" (timeInterval: 10s in influxdb.yaml). */
  readonly minIntervalMs?: number;
  readonly maxDataPoints?: number;
  readonly variables: Readonly<Record<string, VariableValue>>;
}

export function panelIntervalMs(context: PanelQueryContext): number {
  const raw = roundInterval((context.toMs - context.fromMs) / (context.maxDataPoints ?? 1000));
  return Math.max(raw, context.minIntervalMs ?? 10_000);
}

/** Template variables as the frontend interpolates them before the query leaves the browser. */
export function interpolateVariables(query: string, variables: Readonly<Record<string, VariableValue>>): string {
  return query.replace(/\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)/g, (match, braced?: string, bracketed?: string, plain?: string) => {
    const name = braced ?? bracketed ?? plain!;
    const value = variables[name];
    return value === undefined ? match : variableText(value);
  });
}

/** The InfluxQL backend's macros. */
export function renderMacros(query: string, fromMs: number, toMs: number, intervalMs: number): string {
  const text = intervalText(intervalMs);
  return query
    .replaceAll('$timeFilter', `time >= ${Math.trunc(fromMs)}ms and time <= ${Math.trunc(toMs)}ms`)
    .replaceAll('$__interval_ms', String(intervalMs))
    .replaceAll('$__interval', text)
    .replaceAll('$interval', text);
}

export function renderPanelQuery(query: string, context: PanelQueryContext): string {
  return renderMacros(interpolateVariables(query, context.variables), context.fromMs, context.toMs, panelIntervalMs(context));
}

/**
 * A dashboard's variables at their saved defaults, in order, as Grafana 12
 * resolves them on load: a saved All stays All (`allValue`); a variable
 * without All and without a saved choice takes its first option, after
 * sorting (`sort: 1`, alphabetical ascending), its query rendered with the
 * variables before it (@grafana/scenes `MultiValueVariable`,
 * `getStateUpdateGivenNewOptions`). `run` answers a rendered query.
 */
export async function defaultVariables(
  list: readonly { readonly name: string; readonly query: string; readonly includeAll: boolean; readonly allValue?: string; readonly current: { readonly value: readonly string[] } }[],
  context: Omit<PanelQueryContext, 'variables'>,
  run: (name: string, rendered: string) => Promise<InfluxSeries[]>,
): Promise<Record<string, VariableValue>> {
  const variables: Record<string, VariableValue> = {};
  for (const variable of list) {
    const rendered = renderPanelQuery(variable.query, { ...context, variables });
    const options = (await run(variable.name, rendered)).flatMap((s) => s.values.map((row) => String(row[s.columns.indexOf('value')])));
    if (variable.includeAll && variable.current.value[0] === '$__all') variables[variable.name] = { values: [], all: true, ...(variable.allValue !== undefined && { allValue: variable.allValue }) };
    else variables[variable.name] = { values: options.sort().slice(0, 1) };
  }
  return variables;
}

// ---------------------------------------------------------------- InfluxDB

export interface InfluxSeries {
  readonly name: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly columns: readonly string[];
  readonly values: readonly (readonly unknown[])[];
}

/** Runs one InfluxQL statement; throws with InfluxDB's message if it does not parse or fails. */
export async function runInfluxQL(url: string, db: string, query: string): Promise<InfluxSeries[]> {
  const response = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: query, db, epoch: 'ms' }) });
  const body = (await response.json()) as { error?: string; results?: { error?: string; series?: InfluxSeries[] }[] };
  if (!response.ok || body.error !== undefined) throw new Error(`InfluxQL failed: ${body.error ?? response.status}: ${query}`);
  const result = body.results?.[0];
  if (result?.error !== undefined) throw new Error(`InfluxQL failed: ${result.error}: ${query}`);
  return (result?.series ?? []).map((series) => ({ ...series, tags: series.tags ?? {} }));
}

// --------------------------------------------------------------- alert rules

export type Labels = Readonly<Record<string, string>>;
export const labelKey = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

interface Frame {
  readonly labels: Labels;
  readonly points: readonly (number | null)[];
}
interface NumberItem {
  readonly labels: Labels;
  /** null: Grafana's nil (no number: a dropNN reduce of nulls, or math with a nil operand). */
  readonly value: number | null;
}
type Value = { kind: 'series'; frames: Frame[] } | { kind: 'numbers'; items: NumberItem[] } | { kind: 'scalar'; value: number | null };

export interface RuleData {
  readonly refId: string;
  readonly relativeTimeRange: { readonly from: number; readonly to: number };
  readonly datasourceUid: string;
  readonly model: Record<string, unknown>;
}

export interface RuleLike {
  readonly uid: string;
  readonly condition: string;
  readonly data: readonly RuleData[];
  readonly for: string;
  readonly noDataState: string;
}

export interface Evaluation {
  /** Condition value per label set (non-zero: firing). */
  readonly instances: ReadonlyMap<string, NumberItem>;
  /**
   * Some data source query returned no series: Grafana then evaluates the
   * whole rule as NoData, whatever the other queries returned
   * (pkg/services/ngalert/eval/eval.go, `evaluateExecutionResult`: any entry
   * in `execResults.NoData` makes every result NoData).
   */
  readonly noData: boolean;
  /** The InfluxQL each datasource query ran, after rendering. */
  readonly queries: Readonly<Record<string, string>>;
}

function framesFromSeries(series: InfluxSeries[]): Frame[] {
  const frames: Frame[] = [];
  for (const s of series) {
    s.columns.forEach((column, index) => {
      if (column === 'time') return;
      frames.push({ labels: { ...s.tags }, points: s.values.map((row) => (typeof row[index] === 'number' ? (row[index]) : null)) });
    });
  }
  return frames;
}

/**
 * A reduce in `dropNN` mode (every sensorflow rule's): null, NaN and ±Inf are
 * dropped first; with nothing left the result is nil (null here), except
 * `count`, which is 0 (pkg/expr/mathexp/reduce.go, DropNonNumber).
 */
function reduceFrame(points: readonly (number | null)[], reducer: string): number | null {
  const values = points.filter((v): v is number => v !== null && Number.isFinite(v));
  if (reducer === 'count') return values.length;
  if (values.length === 0) return null;
  switch (reducer) {
    case 'last': return values.at(-1)!;
    case 'sum': return values.reduce((a, b) => a + b, 0);
    case 'mean': return values.reduce((a, b) => a + b, 0) / values.length;
    case 'min': return Math.min(...values);
    case 'max': return Math.max(...values);
    default: throw new Error(`reducer ${reducer} not supported here`);
  }
}

const sameLabels = (a: Labels, b: Labels): boolean => labelKey(a) === labelKey(b);
const contains = (a: Labels, b: Labels): boolean => Object.entries(b).every(([k, v]) => a[k] === v);

/** pkg/expr/mathexp union: pairs with equal labels, or one side's labels a subset of the other's. */
function union(a: NumberItem[], b: NumberItem[]): { labels: Labels; a: number | null; b: number | null }[] {
  const pairs: { labels: Labels; a: number | null; b: number | null }[] = [];
  if (a.length === 0 || b.length === 0) return pairs;
  for (const x of a) {
    for (const y of b) {
      const ax = Object.keys(x.labels).length;
      const by = Object.keys(y.labels).length;
      let labels: Labels;
      if (sameLabels(x.labels, y.labels) || ax === 0 || by === 0) labels = ax === 0 ? y.labels : x.labels;
      else if (ax === by) continue;
      else if (contains(x.labels, y.labels)) labels = x.labels;
      else if (contains(y.labels, x.labels)) labels = y.labels;
      else continue;
      pairs.push({ labels, a: x.value, b: y.value });
    }
  }
  if (pairs.length === 0 && a.length === 1 && b.length === 1) pairs.push({ labels: {}, a: a[0]!.value, b: b[0]!.value });
  return pairs;
}

const BINARY: Record<string, (a: number, b: number) => number> = {
  '||': (a, b) => (a !== 0 || b !== 0 ? 1 : 0),
  '&&': (a, b) => (a !== 0 && b !== 0 ? 1 : 0),
  '==': (a, b) => (a === b ? 1 : 0),
  '!=': (a, b) => (a !== b ? 1 : 0),
  '<': (a, b) => (a < b ? 1 : 0),
  '>': (a, b) => (a > b ? 1 : 0),
  '<=': (a, b) => (a <= b ? 1 : 0),
  '>=': (a, b) => (a >= b ? 1 : 0),
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
};
const PRECEDENCE: string[][] = [['||'], ['&&'], ['==', '!='], ['<', '>', '<=', '>='], ['+', '-'], ['*', '/']];

function applyBinary(op: string, a: Value, b: Value): Value {
  const binary = BINARY[op]!;
  // A nil operand gives a nil result (pkg/expr/mathexp/binary.go: nil in, nil out); NaN goes through as NaN.
  const f = (x: number | null, y: number | null): number | null => (x === null || y === null ? null : binary(x, y));
  const items = (v: Value): NumberItem[] | number | null => {
    if (v.kind === 'scalar') return v.value;
    if (v.kind === 'numbers') return v.items;
    throw new Error('math on an unreduced series is not used by sensorflow rules');
  };
  const x = items(a);
  const y = items(b);
  const isScalar = (v: NumberItem[] | number | null): v is number | null => !Array.isArray(v);
  if (isScalar(x) && isScalar(y)) return { kind: 'scalar', value: f(x, y) };
  if (isScalar(x)) return { kind: 'numbers', items: (y as NumberItem[]).map((i) => ({ labels: i.labels, value: f(x, i.value) })) };
  if (isScalar(y)) return { kind: 'numbers', items: x.map((i) => ({ labels: i.labels, value: f(i.value, y) })) };
  return { kind: 'numbers', items: union(x, y).map((p) => ({ labels: p.labels, value: f(p.a, p.b) })) };
}

/** A small recursive-descent parser for the math expressions our rules use. */
export function evaluateMath(expression: string, vars: ReadonlyMap<string, Value>): Value {
  const tokens = expression.match(/\$\{?\w+\}?|\d+(?:\.\d+)?(?:e[+-]?\d+)?|&&|\|\||==|!=|<=|>=|[<>+\-*/()]/g) ?? [];
  let position = 0;
  const parse = (level: number): Value => {
    if (level === PRECEDENCE.length) {
      const token = tokens[position++];
      if (token === '(') {
        const inner = parse(0);
        if (tokens[position++] !== ')') throw new Error(`math: missing ) in ${expression}`);
        return inner;
      }
      if (token?.startsWith('$')) {
        const ref = token.replace(/^\$\{?|\}$/g, '');
        const value = vars.get(ref);
        if (value === undefined) throw new Error(`math: unknown ${token} in ${expression}`);
        return value;
      }
      if (token !== undefined && /^\d/.test(token)) return { kind: 'scalar', value: Number(token) };
      throw new Error(`math: unexpected ${token ?? 'end'} in ${expression}`);
    }
    let left = parse(level + 1);
    while (position < tokens.length && PRECEDENCE[level]!.includes(tokens[position]!)) {
      const op = tokens[position++]!;
      left = applyBinary(op, left, parse(level + 1));
    }
    return left;
  };
  const result = parse(0);
  if (position !== tokens.length) throw new Error(`math: trailing ${tokens[position]} in ${expression}`);
  return result;
}

function thresholdHolds(type: string, params: readonly number[], value: number): boolean {
  const [a = Number.NaN, b = Number.NaN] = params;
  switch (type) {
    case 'gt': return value > a;
    case 'lt': return value < a;
    case 'within_range': return value > Math.min(a, b) && value < Math.max(a, b);
    case 'outside_range': return value < Math.min(a, b) || value > Math.max(a, b);
    default: throw new Error(`threshold ${type} not supported here`);
  }
}

/** Evaluates a rule as Grafana would at `nowMs` against InfluxDB at `url`, database `db`. */
export async function evaluateRule(rule: RuleLike, url: string, db: string, nowMs: number): Promise<Evaluation> {
  const vars = new Map<string, Value>();
  const queries: Record<string, string> = {};
  let emptyQuery = false;
  for (const data of rule.data) {
    const model = data.model;
    if (data.datasourceUid !== '__expr__') {
      const intervalMs = typeof model.intervalMs === 'number' ? model.intervalMs : 1000;
      const query = renderMacros(String(model.query), nowMs - data.relativeTimeRange.from * 1000, nowMs - data.relativeTimeRange.to * 1000, intervalMs);
      queries[data.refId] = query;
      const frames = framesFromSeries(await runInfluxQL(url, db, query));
      if (frames.length === 0) emptyQuery = true;
      vars.set(data.refId, { kind: 'series', frames });
      continue;
    }
    const input = (ref: unknown): Value => {
      const value = vars.get(String(ref));
      if (value === undefined) throw new Error(`${rule.uid}: ${data.refId} refers to unknown ${String(ref)}`);
      return value;
    };
    switch (model.type) {
      case 'reduce': {
        const source = input(model.expression);
        if (source.kind !== 'series') throw new Error(`${rule.uid}: reduce of a non-series`);
        vars.set(data.refId, { kind: 'numbers', items: source.frames.map((f) => ({ labels: f.labels, value: reduceFrame(f.points, String(model.reducer)) })) });
        break;
      }
      case 'threshold': {
        const source = input(model.expression);
        if (source.kind !== 'numbers') throw new Error(`${rule.uid}: threshold of a non-number`);
        const { evaluator } = (model.conditions as { evaluator: { type: string; params: number[] } }[])[0]!;
        // A threshold is math on its input (pkg/expr/threshold.go): a nil input stays nil.
        vars.set(data.refId, { kind: 'numbers', items: source.items.map((i) => ({ labels: i.labels, value: i.value === null ? null : thresholdHolds(evaluator.type, evaluator.params, i.value) ? 1 : 0 })) });
        break;
      }
      case 'math':
        vars.set(data.refId, evaluateMath(String(model.expression), vars));
        break;
      default:
        throw new Error(`${rule.uid}: expression type ${String(model.type)} not supported here`);
    }
  }
  const condition = vars.get(rule.condition);
  if (condition === undefined) throw new Error(`${rule.uid}: condition ${rule.condition} is not a refId`);
  const items = condition.kind === 'numbers' ? condition.items : condition.kind === 'scalar' ? [{ labels: {}, value: condition.value }] : [];
  const instances = new Map(items.map((i) => [labelKey(i.labels), i] as const));
  return { instances: emptyQuery ? new Map() : instances, noData: emptyQuery || instances.size === 0, queries };
}

/**
 * The condition's value says Alerting: any non-zero number, NaN included
 * (eval.go `evaluateExecutionResult`: "Nonzero (e.g 1.2, NaN) results in
 * Alerting"). nil is neither: it is NoData for that instance (`isNoData`).
 */
export const isFiring = (item: NumberItem | undefined): boolean => item !== undefined && item.value !== null && item.value !== 0;

/** The condition's value is nil: a NoData result for that instance alone (eval.go, "nil results in noData"). */
export const isNoData = (item: NumberItem | undefined): boolean => item !== undefined && item.value === null;

export function parseForSeconds(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text);
  if (match === null) throw new Error(`bad duration ${text}`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

export type State = 'Normal' | 'Pending' | 'Alerting' | 'NoData';

export interface RuleInstance {
  readonly state: State;
  /** When the current state began (for `for`). */
  readonly since: number;
  /** The last evaluation that saw (or, for NoData/KeepLast, refreshed) this instance. */
  readonly lastEvaluation: number;
  readonly labels: Labels;
}

/** What the rule's instances are after each evaluation time. */
export interface Simulation {
  /** Instances that are not Normal after the last evaluation, by label key. */
  readonly final: Map<string, State>;
  /** The same after every evaluation, in order. */
  readonly timeline: { readonly at: number; readonly states: Map<string, State> }[];
}

const notNormal = (instances: ReadonlyMap<string, RuleInstance>): Map<string, State> =>
  new Map([...instances].filter(([, i]) => i.state !== 'Normal').map(([key, i]) => [key, i.state]));

/**
 * The rule's instances after evaluating it at each of `times` (ascending,
 * one group interval apart), following Grafana 12's state manager
 * (pkg/services/ngalert/state/manager.go, state.go):
 * - a result that holds: Pending until `for` has passed since it began, then
 *   Alerting; one that does not: Normal (resolved at once);
 * - an instance whose condition is nil: noDataState for that instance alone
 *   (KeepLast keeps it as it was, a new one Normal); NaN is firing;
 * - a query that returns no series at all (every result NoData): noDataState
 *   is applied to EVERY existing instance (`setNextStateForAll`): KeepLast
 *   keeps each (Pending still becomes Alerting once `for` has passed), OK
 *   makes each Normal, Alerting fires each, NoData marks each NoData; with no
 *   instance yet, one instance without labels gets that state (KeepLast:
 *   Normal);
 * - a query that fails: execErrState the same way (KeepLast keeps);
 * - an instance missing from a result that has others: kept while it was
 *   last evaluated less than two intervals ago, then resolved and dropped
 *   (`stateIsStale`: missing series).
 */
export async function simulate(rule: RuleLike & { readonly execErrState?: string }, url: string, db: string, times: readonly number[], intervalMs = 60_000): Promise<Simulation> {
  const forMs = parseForSeconds(rule.for) * 1000;
  let instances = new Map<string, RuleInstance>();
  const timeline: Simulation['timeline'] = [];
  /** One instance's next state under a NoData (or error) mode; `previous` undefined: a new instance. */
  const onNoData = (mode: string, previous: RuleInstance | undefined, labels: Labels, t: number): RuleInstance => {
    if (previous === undefined) {
      // state.go resultKeepLast with no last state: Normal.
      const state: State = mode === 'Alerting' ? (forMs === 0 ? 'Alerting' : 'Pending') : mode === 'NoData' ? 'NoData' : 'Normal';
      return { state, since: t, lastEvaluation: t, labels };
    }
    let state: State;
    if (mode === 'KeepLast') state = previous.state === 'Pending' && t - previous.since >= forMs ? 'Alerting' : previous.state;
    else if (mode === 'OK') state = 'Normal';
    else if (mode === 'Alerting') state = previous.state === 'Alerting' || (previous.state === 'Pending' && t - previous.since >= forMs) || forMs === 0 ? 'Alerting' : 'Pending';
    else state = 'NoData';
    return { ...previous, state, since: state === previous.state ? previous.since : t, lastEvaluation: t };
  };
  const applyToAll = (mode: string, t: number): void => {
    if (instances.size === 0) {
      instances.set(labelKey({}), onNoData(mode, undefined, {}, t));
      return;
    }
    for (const [key, instance] of instances) instances.set(key, onNoData(mode, instance, instance.labels, t));
  };
  for (const t of times) {
    let evaluation: Evaluation | undefined;
    try {
      evaluation = await evaluateRule(rule, url, db, t);
    } catch (error) {
      if (rule.execErrState === undefined) throw error;
      applyToAll(rule.execErrState === 'Error' ? 'NoData' : rule.execErrState, t);
    }
    if (evaluation !== undefined && evaluation.noData) {
      applyToAll(rule.noDataState, t);
    } else if (evaluation !== undefined) {
      const next = new Map<string, RuleInstance>();
      for (const [key, item] of evaluation.instances) {
        const previous = instances.get(key);
        if (isNoData(item)) {
          // A nil value: NoData for this instance alone, through noDataState (KeepLast keeps a firing one firing).
          next.set(key, onNoData(rule.noDataState, previous, item.labels, t));
        } else if (isFiring(item)) {
          const since = previous !== undefined && (previous.state === 'Pending' || previous.state === 'Alerting') ? previous.since : t;
          next.set(key, { state: t - since >= forMs ? 'Alerting' : 'Pending', since, lastEvaluation: t, labels: item.labels });
        } else {
          next.set(key, { state: 'Normal', since: previous?.state === 'Normal' ? previous.since : t, lastEvaluation: t, labels: item.labels });
        }
      }
      for (const [key, instance] of instances) {
        if (next.has(key)) continue;
        if (t - instance.lastEvaluation < 2 * intervalMs) next.set(key, instance); // missing, not yet stale
      }
      instances = next;
    }
    timeline.push({ at: t, states: notNormal(instances) });
  }
  return { final: notNormal(instances), timeline };
}
