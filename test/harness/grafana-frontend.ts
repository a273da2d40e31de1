/**
 * What a user sees in a panel: Grafana 12.0.2's own frontend code from
 * `@grafana/data` (the version docker-compose.yml pins), fed frames shaped the
 * way Grafana's InfluxQL backend shapes InfluxDB's answer
 * (pkg/tsdb/influxdb/influxql/response_parser.go, read at v12.0.x):
 * - table format (`transformRowsForTable`): ONE frame per query, named after
 *   the first series; fields: `Time` (no config), then one string field per
 *   tag of the first series in Go map iteration order (`for key := range
 *   rows[0].Tags`: random, so callers emulate several orders), then one field
 *   per value column; tag and value fields carry `displayNameFromDS` = their
 *   column name; numbers are nullable float64.
 * - time-series format is one frame per series and value column; our changed
 *   panels are all tables, so only the table shape is built here.
 *
 * @grafana/data's ESM build does not load under Node (named lodash imports),
 * and its CJS build touches `window` at load: a two-method stand-in is enough.
 */
import { createRequire } from 'node:module';
import type * as GrafanaData from '@grafana/data';
import type { InfluxSeries } from './grafana-eval.ts';

const require = createRequire(import.meta.url);
const globals = globalThis as { window?: unknown };
globals.window ??= { addEventListener: () => undefined, removeEventListener: () => undefined };
// Node 20 has no navigator; date formats read its language.
if (!('navigator' in globalThis)) Object.defineProperty(globalThis, 'navigator', { value: { language: 'en-US', languages: ['en-US'] }, configurable: true });
const grafana = require('@grafana/data') as typeof GrafanaData;

export const { getFieldDisplayName, getFieldDisplayValues, createTheme, FieldType } = grafana;
export type DataFrame = GrafanaData.DataFrame;

let registered = false;
function registerTransformers(): void {
  if (registered) return;
  registered = true;
  // seriesToColumnsTransformer is joinByField under its old name: one entry per id.
  const byId = new Map(Object.values(grafana.standardTransformers).map((t) => [t.id, t] as const));
  grafana.standardTransformersRegistry.setInit(() => [...byId.values()].map((transformation) => ({
    id: transformation.id,
    aliasIds: transformation.aliasIds,
    name: transformation.name,
    description: transformation.description,
    transformation,
    editor: () => null,
    imageDark: '',
    imageLight: '',
  })));
}

/** Orders in which the Go map iteration may hand over the tag columns. */
export type TagOrder = (tags: string[]) => string[];
export const TAG_ORDERS: Readonly<Record<string, TagOrder>> = {
  sorted: (tags) => [...tags].sort(),
  reversed: (tags) => [...tags].sort().reverse(),
  rotated: (tags) => { const sorted = [...tags].sort(); return [...sorted.slice(1), ...sorted.slice(0, 1)]; },
};

/** InfluxDB's series for one query → the one table frame Grafana 12's InfluxQL backend makes of them. */
export function tableFrame(series: readonly InfluxSeries[], refId: string, tagOrder: TagOrder): DataFrame {
  const first = series[0];
  if (first === undefined) return grafana.toDataFrame({ refId, fields: [] });
  const rows = series.flatMap((s) => s.values.map((row) => ({ tags: s.tags, row })));
  const columns = first.columns;
  const fields: GrafanaData.FieldDTO[] = [];
  const hasTime = columns[0] === 'time';
  if (hasTime) fields.push({ name: 'Time', type: grafana.FieldType.time, values: rows.map((r) => r.row[0] as number) });
  for (const tag of tagOrder(Object.keys(first.tags))) {
    fields.push({ name: tag, type: grafana.FieldType.string, values: rows.map((r) => r.tags[tag] ?? ''), config: { displayNameFromDS: tag } });
  }
  columns.forEach((column, index) => {
    if (index === 0 && hasTime) return;
    const values = rows.map((r) => r.row[index] ?? null);
    const isString = values.some((v) => typeof v === 'string');
    fields.push({ name: column, type: isString ? grafana.FieldType.string : grafana.FieldType.number, values, config: { displayNameFromDS: column } });
  });
  return grafana.toDataFrame({ name: first.name, refId, fields });
}

/** A panel's transformations, run by @grafana/data's own transformDataFrame. */
export async function transform(frames: DataFrame[], transformations: readonly { id: string; options: Record<string, unknown> }[]): Promise<DataFrame[]> {
  registerTransformers();
  return new Promise((resolve, reject) => {
    const subscription = grafana.transformDataFrame(transformations.map((t) => ({ id: t.id, options: t.options })), frames).subscribe({
      next: (result) => { resolve(result); queueMicrotask(() => subscription.unsubscribe()); },
      error: reject,
    });
  });
}

/** A table as the user reads it: header = each field's display name, then the rows. */
export function tableView(frame: DataFrame, frames: DataFrame[] = [frame]): { header: string[]; rows: unknown[][] } {
  const header = frame.fields.map((field) => getFieldDisplayName(field, frame, frames));
  const rows = Array.from({ length: frame.length }, (_, i) => frame.fields.map((field): unknown => (field.values as unknown[])[i]));
  return { header, rows };
}
