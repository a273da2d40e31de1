/**
 * What one delivery attempt came to, decided from the HTTP status AND the
 * reply body: both platforms answer HTTP 200 with an error code in the body.
 * Each kind has one treatment in delivery/worker.ts:
 *   delivered      done, remove from the queue
 *   retry          network error, 5xx, rate limit: back off (capped) and try again
 *   misconfigured  signature, keyword, IP allowlist, bad token, and the webhook
 *                  host's certificate (expired, another host's, unknown CA):
 *                  never retried; one log line says what to fix
 *   rejected       the platform refused this message for another reason: not retried
 *
 * A certificate error is misconfigured, not retry: the same handshake fails
 * the same way until someone changes NOTIFIER_CA_FILE, the URL or the
 * certificate, and retrying for NOTIFIER_GIVE_UP_AFTER_MS would only delay
 * the one line that says so. The notification waits in dead/<bot>/ with the
 * reason, to be moved back once fixed (as for a wrong signature).
 */
import { rootCertificates } from 'node:tls';
import { requestText } from '../../common/http-client.ts';
import { errorCode, explainTlsError } from '../../common/tls-error.ts';

export type SendOutcome =
  | { readonly kind: 'delivered'; readonly status: number; readonly reply: string }
  | { readonly kind: 'retry'; readonly reason: 'network' | 'server' | 'rate-limited' | 'unexpected-reply'; readonly detail: string; readonly status?: number; readonly reply?: string }
  | { readonly kind: 'misconfigured'; readonly reason: 'signature' | 'keyword' | 'ip-allowlist' | 'token' | 'certificate'; readonly detail: string; readonly fix: string; readonly status?: number; readonly reply?: string }
  | { readonly kind: 'rejected'; readonly reason: 'rejected'; readonly detail: string; readonly status: number; readonly reply: string };

/** The failure reasons, as the `reason` label of the failure metric. */
export type FailureReason = Exclude<SendOutcome, { kind: 'delivered' }>['reason'];

/** One HTTP exchange: the status and the body text, or a network error (with node's code when there is one). */
export type HttpResult = { readonly ok: true; readonly status: number; readonly text: string } | { readonly ok: false; readonly error: string; readonly code?: string };

export type PostJson = (url: string, body: string, timeoutMs: number) => Promise<HttpResult>;

/** The reply text kept for logs and classification. */
const MAX_REPLY_CHARS = 2000;

/**
 * POST with a timeout over node's client (common/http-client.ts); redirects
 * are not followed (DingTalk answers a throttled bot with 302). `ca`
 * (NOTIFIER_CA_FILE) is trusted in addition to the system's CAs: one notifier
 * may post to the public DingTalk and to a private Feishu deployment, or go
 * through a TLS-inspecting proxy.
 */
export function createPostJson(ca?: Buffer): PostJson {
  const trusted = ca === undefined ? undefined : [...rootCertificates, ca];
  return async (url, body, timeoutMs) => {
    try {
      const reply = await requestText(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body,
        timeoutMs,
        maxReplyBytes: 4 * MAX_REPLY_CHARS,
        ...(trusted !== undefined && { ca: trusted }),
      });
      return { ok: true, status: reply.status, text: reply.text.slice(0, MAX_REPLY_CHARS) };
    } catch (error) {
      const code = errorCode(error);
      const message = (error as Error).name === 'TimeoutError' ? 'timed out' : (error as Error).message;
      return { ok: false, error: `${message}${code === undefined || message.includes(code) ? '' : ` (${code})`}`, ...(code !== undefined && { code }) };
    }
  };
}

/** Posts trusting the system's CAs only. */
export const postJson: PostJson = createPostJson();

/**
 * The outcome for replies whose body is not the platform's JSON. `bot` names
 * the bot in a fix, e.g. `DingTalk bot "oncall"`.
 */
export function transportOutcome(result: HttpResult, bot: string): SendOutcome | undefined {
  if (!result.ok) {
    const tls = explainTlsError(result.code, { name: 'the webhook host', url: `${bot}'s webhook URL`, ca: 'NOTIFIER_CA_FILE', plainScheme: 'http://' });
    if (tls !== undefined) return { kind: 'misconfigured', reason: 'certificate', detail: result.error, fix: `${bot}: ${tls.cause}: ${tls.hint}` };
    return { kind: 'retry', reason: 'network', detail: result.error };
  }
  if (result.status === 429 || (result.status >= 300 && result.status < 400)) {
    return { kind: 'retry', reason: 'rate-limited', detail: `HTTP ${result.status}`, status: result.status, reply: result.text };
  }
  if (result.status >= 500) return { kind: 'retry', reason: 'server', detail: `HTTP ${result.status}`, status: result.status, reply: result.text };
  return undefined;
}

export function parseReply(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
