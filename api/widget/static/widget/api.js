// The widget's HTTP client: the public API with the customer's bearer token, and its errors as values the
// panel can put into words. The token comes from the page's `getToken`; it is asked for again once when the
// service answers 401 (a store mints short-lived tokens), and never stored anywhere by the widget.

import { readEvents } from "./sse.js";

/** An answer other than 2xx, in the service's `{"error": {code, message}}` shape. */
export class ApiProblem extends Error {
  constructor(status, code, message, retryAfterS = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/** The request never got an answer (offline, the server went away, a proxy dropped it). */
export class ConnectionLost extends Error {}

export class ApiClient {
  constructor({ apiBase, getToken }) {
    this.base = apiBase.replace(/\/+$/, "");
    this.getToken = getToken;
    this.token = null;
  }

  async request(method, path, { body, headers = {}, signal } = {}) {
    for (let attempt = 0; ; attempt++) {
      if (this.token === null || attempt > 0) this.token = await this.getToken();
      let response;
      try {
        response = await fetch(this.base + path, {
          method,
          signal,
          headers: {
            Authorization: `Bearer ${this.token}`,
            ...(body === undefined ? {} : { "Content-Type": "application/json" }),
            ...headers,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        throw new ConnectionLost(String(error));
      }
      if (response.status === 401 && attempt === 0) continue; // the token ran out: ask the page for a new one
      if (!response.ok) throw await problemOf(response);
      return response;
    }
  }

  async json(method, path, options) {
    return (await this.request(method, path, options)).json();
  }

  createConversation() {
    return this.json("POST", "/v1/conversations");
  }

  readConversation(id) {
    return this.json("GET", `/v1/conversations/${encodeURIComponent(id)}`);
  }

  answerConfirmation(conversationId, confirmationId, decision) {
    const path = `/v1/conversations/${encodeURIComponent(conversationId)}/confirmations/${encodeURIComponent(confirmationId)}`;
    return this.json("POST", path, { body: { decision } });
  }

  /** The customer's verdict on one answer ("Was this helpful?"), with an optional comment. */
  giveFeedback(conversationId, runId, helpful, comment) {
    const path = `/v1/conversations/${encodeURIComponent(conversationId)}/feedback`;
    return this.json("POST", path, { body: { run_id: runId, helpful, ...(comment ? { comment } : {}) } });
  }

  /** The turn as events, while it happens. The Idempotency-Key makes sending the same text again safe. */
  async *sendMessage(conversationId, content, idempotencyKey, signal) {
    const response = await this.request("POST", `/v1/conversations/${encodeURIComponent(conversationId)}/messages`, {
      body: { content },
      headers: { Accept: "text/event-stream", "Idempotency-Key": idempotencyKey },
      signal,
    });
    yield* readEvents(response, signal);
  }

  /** The conversation feed from after `lastEventId` (all of it when null). */
  async openFeed(conversationId, lastEventId, signal) {
    const headers = { Accept: "text/event-stream" };
    if (lastEventId !== null) headers["Last-Event-ID"] = String(lastEventId);
    const response = await this.request("GET", `/v1/conversations/${encodeURIComponent(conversationId)}/events`, {
      headers,
      signal,
    });
    return readEvents(response, signal);
  }
}

async function problemOf(response) {
  let code = "http_" + response.status;
  let message = response.statusText || "the service refused the request";
  try {
    const body = await response.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? message;
  } catch {
    // not our JSON (a proxy's page): the status says enough
  }
  return new ApiProblem(response.status, code, message, retryAfter(response.headers.get("Retry-After")));
}

/** Retry-After is seconds or an HTTP date; either becomes seconds from now. */
export function retryAfter(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
