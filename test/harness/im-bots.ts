/**
 * Local stand-ins for the DingTalk and Feishu custom-bot webhooks (they cannot
 * be reached from here). Each checks what the real service checks, with the
 * documented algorithms, and answers with the documented replies:
 *
 * DingTalk  POST /robot/send?access_token=…[&timestamp=ms&sign=…]
 *   unknown token              {"errcode":300001,"errmsg":"token is not exist"}
 *   signing on, sign wrong or
 *   timestamp > 1 h off        {"errcode":310000,"errmsg":"sign not match, …"}
 *   keyword missing            {"errcode":310000,"errmsg":"keywords not in content, …"}
 *   IP not allowed             {"errcode":310000,"errmsg":"ip 1.2.3.4 not in whitelist, …"}
 *   > 20 messages / minute     {"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}
 *   success                    {"errcode":0,"errmsg":"ok"}
 * Feishu    POST /open-apis/bot/v2/hook/{token}, body {timestamp (s), sign, msg_type, card|content}
 *   unknown token              {"code":19001,"msg":"param invalid: incoming webhook access token invalid"}
 *   sign wrong / > 1 h off     {"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}
 *   IP not allowed             {"code":19022,"msg":"Ip Not Allowed"}
 *   keyword missing            {"code":19024,"msg":"Key Words Not Found"}
 *   > 5/s or > 100/min         {"code":11232,"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"}
 *   body over 20 KB            {"code":19036,"msg":"request body too large"}
 *   success                    {"code":0,"msg":"success","data":{}}
 *
 * Rate limits are judged as the platforms judge them: on the time each request
 * ARRIVES (the stand-in's clock, `now`, when the request reaches it), over
 * sliding windows: DingTalk refuses the 21st message within any 60 s, Feishu
 * the 6th within any 1 s and the 101st within any 60 s. Not on the signed
 * timestamp: Feishu's is in whole seconds, so judging on it let 10 messages
 * through within a few milliseconds across a second boundary, and a request
 * that left on time but arrived late (a slow network) is counted when it
 * arrives. With a fake clock (`now`), a test is judged on that clock.
 * Scripted replies (failNext) come first: HTTP errors, rate-limit codes, or a dropped connection.
 * With `tls` the stand-in serves https with a certificate from test/harness/certs.ts.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

export type Platform = 'dingtalk' | 'feishu';

export interface ReceivedRequest {
  readonly url: URL;
  readonly rawBody: string;
  readonly body: Record<string, unknown> | undefined;
  /** The time the request was signed at (ms), or the stand-in's clock when unsigned. */
  readonly timeMs: number;
  /** The stand-in's clock when the request arrived: what the rate limits are judged on. */
  readonly arrivedMs: number;
  readonly status: number;
  readonly reply: string;
  /** True when the stand-in accepted it as a delivered message. */
  readonly accepted: boolean;
}

export type Scripted = { readonly status: number; readonly body: unknown } | { readonly dropConnection: true };

export interface StandInOptions {
  readonly platform: Platform;
  readonly token?: string;
  /** The bot's signing secret; undefined: signing off. */
  readonly secret?: string;
  readonly keyword?: string;
  /** When set, requests are refused as coming from a non-allowed IP. */
  readonly refuseIp?: boolean;
  readonly now?: () => number;
  /** Serve https with this certificate (test/harness/certs.ts), as the real platforms do. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

const DINGTALK_LIMITS = [{ limit: 20, windowMs: 60_000 }];
const FEISHU_LIMITS = [
  { limit: 5, windowMs: 1_000 },
  { limit: 100, windowMs: 60_000 },
];
const FEISHU_MAX_BODY = 20 * 1024;
const HOUR_MS = 3600_000;

export class BotStandIn {
  readonly platform: Platform;
  readonly token: string;
  readonly requests: ReceivedRequest[] = [];
  readonly #options: StandInOptions;
  readonly #server: Server;
  readonly #script: Scripted[] = [];
  #alwaysFail: Scripted | undefined;
  #acceptedTimes: number[] = [];
  #port = 0;
  #waiters: { count: number; resolve: () => void }[] = [];
  #held: Promise<void> | undefined;

  private constructor(options: StandInOptions) {
    this.platform = options.platform;
    this.token = options.token ?? 'tok3n0123456789abcdef';
    this.#options = options;
    const handle = (request: IncomingMessage, response: ServerResponse): void => void this.#handle(request, response);
    this.#server = options.tls === undefined ? createServer(handle) : createTlsServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, handle);
  }

  static async start(options: StandInOptions): Promise<BotStandIn> {
    const standIn = new BotStandIn(options);
    await new Promise<void>((resolve) => standIn.#server.listen(0, '127.0.0.1', resolve));
    const address = standIn.#server.address();
    standIn.#port = typeof address === 'object' && address !== null ? address.port : 0;
    return standIn;
  }

  /** The webhook URL a user would copy from the bot's settings. */
  get url(): string {
    const origin = `${this.#options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.#port}`;
    return this.platform === 'dingtalk' ? `${origin}/robot/send?access_token=${this.token}` : `${origin}/open-apis/bot/v2/hook/${this.token}`;
  }

  /** Messages accepted as delivered, in order. */
  get delivered(): ReceivedRequest[] {
    return this.requests.filter((request) => request.accepted);
  }

  failNext(...replies: Scripted[]): void {
    this.#script.push(...replies);
  }

  /** Every request gets this reply until cleared (undefined). */
  failAlways(reply: Scripted | undefined): void {
    this.#alwaysFail = reply;
  }

  /**
   * Requests that arrive from now on wait, unanswered, until the returned
   * function is called: a platform slower than the storm hitting it.
   */
  holdReplies(): () => void {
    let release = (): void => undefined;
    this.#held = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.#held = undefined;
      release();
    };
  }

  /** Resolves once `count` messages have been accepted. */
  waitForDelivered(count: number): Promise<void> {
    if (this.delivered.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const arrivedMs = this.#now();
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    if (this.#held !== undefined) await this.#held;
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(rawBody) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const scripted = this.#script.shift() ?? this.#alwaysFail;
    if (scripted !== undefined) {
      if ('dropConnection' in scripted) {
        this.requests.push({ url, rawBody, body, timeMs: this.#now(), arrivedMs, status: 0, reply: '(connection dropped)', accepted: false });
        request.socket.destroy();
        return;
      }
      this.#answer(response, { url, rawBody, body, timeMs: this.#now(), arrivedMs }, scripted.status, scripted.body, false);
      return;
    }
    const verdict = this.platform === 'dingtalk' ? this.#dingtalk(url, rawBody, body, arrivedMs) : this.#feishu(url, rawBody, body, arrivedMs);
    this.#answer(response, { url, rawBody, body, timeMs: verdict.timeMs, arrivedMs }, 200, verdict.reply, verdict.accepted);
  }

  #answer(response: ServerResponse, seen: Omit<ReceivedRequest, 'status' | 'reply' | 'accepted'>, status: number, replyBody: unknown, accepted: boolean): void {
    const reply = typeof replyBody === 'string' ? replyBody : JSON.stringify(replyBody);
    this.requests.push({ ...seen, status, reply, accepted });
    if (accepted) this.#acceptedTimes.push(seen.arrivedMs);
    response.writeHead(status, { 'content-type': 'application/json' }).end(reply);
    const delivered = this.delivered.length;
    this.#waiters = this.#waiters.filter((waiter) => (waiter.count <= delivered ? (waiter.resolve(), false) : true));
  }

  /** Sliding windows: `limit` accepted messages that arrived within the `windowMs` before this one (inclusive) refuse it. */
  #overLimit(arrivedMs: number, limits: readonly { limit: number; windowMs: number }[]): boolean {
    return limits.some((window) => this.#acceptedTimes.filter((time) => time > arrivedMs - window.windowMs && time <= arrivedMs).length >= window.limit);
  }

  #dingtalk(url: URL, rawBody: string, body: Record<string, unknown> | undefined, arrivedMs: number): { reply: unknown; accepted: boolean; timeMs: number } {
    const now = this.#now();
    const fail = (errcode: number, errmsg: string, timeMs = now): { reply: unknown; accepted: boolean; timeMs: number } => ({ reply: { errcode, errmsg }, accepted: false, timeMs });
    if (url.pathname !== '/robot/send' || url.searchParams.get('access_token') !== this.token) return fail(300001, 'token is not exist');
    let timeMs = now;
    if (this.#options.secret !== undefined) {
      const timestamp = url.searchParams.get('timestamp') ?? '';
      const sign = url.searchParams.get('sign') ?? '';
      // The documented check: HMAC-SHA256(key=secret, msg=timestamp+"\n"+secret), base64; URLSearchParams already url-decoded it.
      const expected = createHmac('sha256', this.#options.secret).update(`${timestamp}\n${this.#options.secret}`).digest('base64');
      timeMs = Number(timestamp);
      if (!/^\d{13}$/.test(timestamp) || sign !== expected || Math.abs(now - timeMs) > HOUR_MS) {
        return fail(310000, 'sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]');
      }
    }
    if (this.#options.refuseIp === true) return fail(310000, 'ip 203.0.113.7 not in whitelist, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]');
    if (this.#options.keyword !== undefined && !rawBody.includes(this.#options.keyword)) {
      return fail(310000, 'keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]');
    }
    const markdown = body?.markdown as { title?: unknown; text?: unknown } | undefined;
    if (body?.msgtype !== 'markdown' || typeof markdown?.title !== 'string' || typeof markdown.text !== 'string') {
      return fail(40035, '缺少参数 json');
    }
    if (Buffer.byteLength(rawBody) > 20_000) return fail(460101, 'message too long, exceed 20000 bytes');
    if (this.#overLimit(arrivedMs, DINGTALK_LIMITS)) return fail(130101, 'send too fast, exceed 20 times per minute', timeMs);
    return { reply: { errcode: 0, errmsg: 'ok' }, accepted: true, timeMs };
  }

  #feishu(url: URL, rawBody: string, body: Record<string, unknown> | undefined, arrivedMs: number): { reply: unknown; accepted: boolean; timeMs: number } {
    const now = this.#now();
    const fail = (code: number, msg: string, timeMs = now): { reply: unknown; accepted: boolean; timeMs: number } => ({ reply: { code, data: {}, msg }, accepted: false, timeMs });
    if (url.pathname !== `/open-apis/bot/v2/hook/${this.token}`) return fail(19001, 'param invalid: incoming webhook access token invalid');
    if (body === undefined) return fail(9499, 'Bad Request');
    let timeMs = now;
    if (this.#options.secret !== undefined) {
      const timestamp = typeof body.timestamp === 'string' || typeof body.timestamp === 'number' ? String(body.timestamp) : '';
      // The documented check: HMAC-SHA256(key=timestamp+"\n"+secret, msg=""), base64.
      const expected = createHmac('sha256', `${timestamp}\n${this.#options.secret}`).update('').digest('base64');
      timeMs = Number(timestamp) * 1000;
      if (!/^\d{10}$/.test(timestamp) || body.sign !== expected || Math.abs(now - timeMs) > HOUR_MS) {
        return fail(19021, 'sign match fail or timestamp is not within one hour from current time');
      }
    }
    if (this.#options.refuseIp === true) return fail(19022, 'Ip Not Allowed');
    if (this.#options.keyword !== undefined && !rawBody.includes(this.#options.keyword)) return fail(19024, 'Key Words Not Found');
    if (Buffer.byteLength(rawBody) > FEISHU_MAX_BODY) return fail(19036, 'request body too large');
    const card = body.card as { header?: { title?: { content?: unknown } }; elements?: unknown } | undefined;
    if (body.msg_type !== 'interactive' || typeof card?.header?.title?.content !== 'string' || !Array.isArray(card.elements)) {
      return fail(19002, 'params error, msg_type need');
    }
    if (this.#overLimit(arrivedMs, FEISHU_LIMITS)) return fail(11232, 'frequency limited psm[lark.oapi.app_platform_runtime]appID[1]', timeMs);
    return { reply: { code: 0, data: {}, msg: 'success' }, accepted: true, timeMs };
  }
}

/** The text a person reads in a received message (DingTalk markdown text or the Feishu card's title and divs). */
export function messageText(request: ReceivedRequest): string {
  const body = request.body as
    | { markdown?: { title: string; text: string }; card?: { header: { title: { content: string } }; elements: { text?: { content: string } }[] } }
    | undefined;
  if (body?.markdown !== undefined) return `${body.markdown.title}\n${body.markdown.text}`;
  if (body?.card !== undefined) return [body.card.header.title.content, ...body.card.elements.map((element) => element.text?.content ?? '')].join('\n');
  return request.rawBody;
}
