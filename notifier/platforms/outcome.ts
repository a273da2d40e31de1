/**
 * What one delivery attempt came to, decided from the HTTP status AND the
 * reply body: both platforms answer HTTP 200 with an error code in the body.
 * Each kind has one treatment in delivery/worker.ts:
 *   delivered      done, remove from the queue
 *   retry          network error, 5xx, rate limit: back off (capped) and try again
 *   misconfigured  signature, keyword, IP allowlist, bad token: never retried;
 *                  one log line says what to fix in the bot's settings
 *   rejected       the platform refused this message for another reason: not retried
 */
export type SendOutcome =
  | { readonly kind: 'delivered'; readonly status: number; readonly reply: string }
  | { readonly kind: 'retry'; readonly reason: 'network' | 'server' | 'rate-limited' | 'unexpected-reply'; readonly detail: string; readonly status?: number; readonly reply?: string }
  | { readonly kind: 'misconfigured'; readonly reason: 'signature' | 'keyword' | 'ip-allowlist' | 'token'; readonly detail: string; readonly fix: string; readonly status: number; readonly reply: string }
  | { readonly kind: 'rejected'; readonly reason: 'rejected'; readonly detail: string; readonly status: number; readonly reply: string };

/** The failure reasons, as the `reason` label of the failure metric. */
export type FailureReason = Exclude<SendOutcome, { kind: 'delivered' }>['reason'];

/** One HTTP exchange: the status and the body text, or a network error. */
export type HttpResult = { readonly ok: true; readonly status: number; readonly text: string } | { readonly ok: false; readonly error: string };

export type PostJson = (url: string, body: string, timeoutMs: number) => Promise<HttpResult>;

/** fetch with a timeout; redirects are not followed (DingTalk answers a throttled bot with 302). */
export const postJson: PostJson = async (url, body, timeoutMs) => {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    return { ok: true, status: response.status, text: text.slice(0, 2000) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { ok: false, error: `${(error as Error).name === 'TimeoutError' ? 'timed out' : (error as Error).message}${cause === undefined ? '' : ` (${cause})`}` };
  }
};

/** The outcome for replies whose body is not the platform's JSON. */
export function transportOutcome(result: HttpResult): SendOutcome | undefined {
  if (!result.ok) return { kind: 'retry', reason: 'network', detail: result.error };
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
