/**
 * Which server INFLUX_URL is, from its `/ping`: so that `INFLUX_API=v1` or
 * `v2` pointed at InfluxDB 3 is refused instead of losing data.
 *
 * Why refuse rather than write on: InfluxDB 3 serves `/api/v2/write` and
 * `/write`, but on `/api/v2/write` it answers every write-buffer fault (a
 * full WAL buffer, shutdown, object-store errors) with 400 "invalid"
 * (influxdata/influxdb v3.10.1, `influxdb3_server/src/http.rs`
 * `V2WriteApiError::to_code`, l. 466–483), which a 2.x client must read as
 * "bad data" and drop; and both endpoints force `accept_partial=false`
 * (`influxdb3_types/src/http.rs` l. 450–459), so one bad line costs the whole
 * batch a bisection of ~1 s writes. `INFLUX_API=v3` has neither problem.
 * Why not switch silently: the operator's other settings (a v1 user and
 * password, Grafana's data source) were made for the other server too, and
 * one line that names the setting to change is clearer than a guess.
 *
 * How InfluxDB 3 answers `/ping` (v3.10.1, `http.rs` `ping`, l. 1213–1233):
 * 200 with a JSON body `{"product_name": "InfluxDB 3 Core" | "InfluxDB 3
 * Enterprise", "version": "3.10.1", "revision", "process_id"}` and headers
 * `X-Influxdb-Build: Core` and `X-Influxdb-Version: 3.10.1`. It asks for a
 * token there unless started with `--disable-authz ping` (`http.rs` l. 2713–2722):
 * without one it answers 401. InfluxDB 1.x and 2.x answer 204 with no body,
 * and never ask for credentials on /ping.
 */
import { requestText } from '../../common/http-client.ts';
import type { InfluxConfig } from '../config.ts';
import type { SendLines } from '../contracts.ts';
import { transportFailure } from './influx-http.ts';
import type { WriteOutcome } from './outcome.ts';

export type ServerIdentity =
  /** InfluxDB 3, as its /ping body says. */
  | { readonly kind: 'influxdb3'; readonly product: string; readonly version: string }
  /** Answered /ping, and is not InfluxDB 3 (1.x, 2.x, VictoriaMetrics, …), or cannot tell (a proxy's 401): writes go ahead. */
  | { readonly kind: 'other'; readonly status: number };

/** Reads a /ping answer. Pure. */
export function identifyPing(status: number, body: string): ServerIdentity {
  if (status >= 200 && status < 300 && body !== '') {
    try {
      const json = JSON.parse(body) as { product_name?: unknown; version?: unknown; process_id?: unknown };
      const product = typeof json.product_name === 'string' ? json.product_name : '';
      const version = typeof json.version === 'string' ? json.version : '';
      // An older 3.x without product_name still has version 3.x and a process id.
      if (product.startsWith('InfluxDB 3') || (version.startsWith('3.') && json.process_id !== undefined)) {
        return { kind: 'influxdb3', product: product || 'InfluxDB 3', version };
      }
    } catch {
      // not JSON: not InfluxDB 3
    }
  }
  return { kind: 'other', status };
}

/** The one line that refuses the setting, naming what to set instead. */
export function wrongApiMessage(config: Pick<InfluxConfig, 'api' | 'url'>, identity: Extract<ServerIdentity, { kind: 'influxdb3' }>): string {
  return `INFLUX_API=${config.api} but INFLUX_URL is ${identity.product} ${identity.version} (its /ping says so): set INFLUX_API=v3. `
    + `InfluxDB 3's ${config.api === 'v1' ? '/write' : '/api/v2/write'} answers its own faults (a full write buffer, shutdown) with 400, which would read as bad data and be dropped (docs/installation.md#influxdb-3)`;
}

/** The Authorization header the writer would send, so an InfluxDB 3 that guards /ping answers. */
function authorization(config: Pick<InfluxConfig, 'api' | 'token' | 'username' | 'password'>): Record<string, string> {
  if (config.api === 'v1' && config.username !== undefined) {
    return { authorization: `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}` };
  }
  return config.token === undefined ? {} : { authorization: `Token ${config.token}` };
}

/** GET /ping once. Rejects with the transport's error when nothing answers. */
export async function probeServer(
  config: Pick<InfluxConfig, 'api' | 'url' | 'token' | 'username' | 'password' | 'timeoutMs' | 'ca'>,
  timeoutMs = Math.min(config.timeoutMs, 10_000),
): Promise<ServerIdentity> {
  const reply = await requestText(new URL('/ping', config.url), {
    headers: authorization(config),
    timeoutMs,
    maxReplyBytes: 64 * 1024,
    ...(config.ca !== undefined && { ca: config.ca }),
  });
  return identifyPing(reply.status, reply.text);
}

/**
 * For `INFLUX_API=v1`/`v2`: no line is sent before the server has said what
 * it is. While it does not answer, each write is a network error (the
 * delivery policy retries; the write-ahead log keeps the data). Once it is
 * known to be InfluxDB 3, every write is refused as misconfigured (kept,
 * retried slowly) and `onInfluxdb3` is told once; main.ts has already
 * refused to start in that case when the server answered at start.
 */
export function guardAgainstInfluxdb3(
  send: SendLines,
  probe: () => Promise<ServerIdentity>,
  config: Pick<InfluxConfig, 'api' | 'url'>,
  onInfluxdb3: (message: string) => void,
): SendLines {
  let identity: ServerIdentity | undefined;
  return async (lines): Promise<WriteOutcome> => {
    if (identity === undefined) {
      try {
        identity = await probe();
      } catch (error) {
        return transportFailure(error);
      }
      if (identity.kind === 'influxdb3') onInfluxdb3(wrongApiMessage(config, identity));
    }
    if (identity.kind === 'influxdb3') return { kind: 'misconfigured', status: 0, message: wrongApiMessage(config, identity) };
    return send(lines);
  };
}
