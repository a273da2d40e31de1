/**
 * The part of Grafana's dashboard model (schemaVersion 41, Grafana 12) that
 * sensorflow's dashboards use, typed so that the generator cannot produce a
 * panel without a datasource or a query that is not raw InfluxQL. The JSON
 * it produces is checked against Grafana's own JSON schemas in the tests.
 */

export const DATASOURCE = { type: 'influxdb', uid: 'sensorflow-influxdb' } as const;
export type DatasourceRef = typeof DATASOURCE;

/** A raw InfluxQL query: what the tests expand and run against InfluxDB. */
export interface InfluxTarget {
  readonly refId: string;
  readonly datasource: DatasourceRef;
  readonly rawQuery: true;
  readonly query: string;
  readonly resultFormat: 'time_series' | 'table';
  /** Series name: `$tag_device`, `$col`, … */
  readonly alias?: string;
}

export interface Threshold {
  readonly value: number | null;
  readonly color: string;
}

export interface FieldDefaults {
  readonly unit?: string;
  readonly decimals?: number;
  readonly min?: number;
  readonly max?: number;
  readonly displayName?: string;
  readonly noValue?: string;
  readonly color?: { readonly mode: string; readonly fixedColor?: string };
  readonly thresholds?: { readonly mode: 'absolute' | 'percentage'; readonly steps: readonly Threshold[] };
  readonly mappings?: readonly unknown[];
  readonly links?: readonly { readonly title: string; readonly url: string }[];
  readonly custom?: Record<string, unknown>;
}

export interface FieldOverride {
  readonly matcher: { readonly id: string; readonly options: string };
  readonly properties: readonly { readonly id: string; readonly value: unknown }[];
}

export interface Panel {
  readonly id: number;
  readonly type: 'timeseries' | 'stat' | 'state-timeline' | 'table' | 'bargauge' | 'text';
  readonly title: string;
  readonly description: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource: DatasourceRef;
  readonly targets: readonly InfluxTarget[];
  readonly options: Record<string, unknown>;
  readonly fieldConfig: { readonly defaults: FieldDefaults; readonly overrides: readonly FieldOverride[] };
  readonly transformations?: readonly { readonly id: string; readonly options: Record<string, unknown> }[];
  readonly links?: readonly { readonly title: string; readonly url: string }[];
}

export interface QueryVariable {
  readonly type: 'query';
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly datasource: DatasourceRef;
  readonly query: string;
  readonly definition: string;
  readonly refresh: 1 | 2;
  readonly multi: true;
  /** false for the Device variable of the per-device dashboards: they draw the devices picked, never the whole fleet. */
  readonly includeAll: boolean;
  /** A regex: every panel filters with `=~ /^$var$/`, so "All" is `.*`, not a list of thousands of devices. */
  readonly allValue?: '.*';
  /** Empty lists: no saved choice, Grafana picks the first option (see pickedDeviceVariable in dashboards.ts). */
  readonly current: { readonly text: readonly string[]; readonly value: readonly string[] };
  readonly options: readonly never[];
  readonly sort: 1;
  readonly regex: '';
  readonly hide: 0;
}

export interface DashboardLink {
  readonly title: string;
  readonly type: 'dashboards' | 'link';
  readonly icon: string;
  readonly tooltip: string;
  readonly url?: string;
  readonly tags: readonly string[];
  readonly asDropdown: boolean;
  readonly targetBlank: boolean;
  readonly includeVars: boolean;
  readonly keepTime: boolean;
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly timezone: 'browser';
  readonly editable: false;
  readonly graphTooltip: 1;
  readonly time: { readonly from: string; readonly to: string };
  readonly refresh: string;
  readonly schemaVersion: 41;
  readonly version: 1;
  readonly links: readonly DashboardLink[];
  readonly templating: { readonly list: readonly QueryVariable[] };
  readonly annotations: { readonly list: readonly unknown[] };
  readonly panels: readonly Panel[];
}
