// Following the conversation feed for as long as the panel is open: the decisions, staff replies and resumed
// answers that reach the customer from elsewhere. A lost connection is resumed from the last event id this
// follower saw, so nothing is missed or repeated. Reconnects back off: the server's `retry:` delay (1 s until it
// has sent one) doubling up to 30 s, each taken at random between half and all of it so that many widgets cut off
// together do not return together; an event received resets the count.

import { ApiProblem } from "./api.js";

const MAX_DELAY_MS = 30_000;

export class FeedFollower {
  /**
   * @param {import("./api.js").ApiClient} api
   * @param {string} conversationId
   * @param {{lastEventId: number|null, onEvent: Function, onState: Function, onGone: Function}} hooks
   */
  constructor(api, conversationId, { lastEventId, onEvent, onState, onGone }) {
    this.api = api;
    this.conversationId = conversationId;
    this.lastEventId = lastEventId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onGone = onGone;
    this.baseDelayMs = 1000;
    this.failures = 0;
    this.controller = new AbortController();
    this.wake = null;
  }

  start() {
    this.loop();
    return this;
  }

  stop() {
    this.controller.abort();
    this.wake?.();
  }

  /** Reconnect now instead of waiting out the back-off (the browser says it is online again). */
  retryNow() {
    this.wake?.();
  }

  async loop() {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        const events = await this.api.openFeed(this.conversationId, this.lastEventId, signal);
        this.onState("connected");
        for await (const event of events) {
          if (event.retry !== null) this.baseDelayMs = event.retry;
          if (event.event === "retry") continue;
          this.failures = 0;
          if (event.id !== null) this.lastEventId = Number(event.id);
          this.onEvent(event);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiProblem && (error.status === 404 || error.status === 403)) {
          this.onGone(error);
          return;
        }
      }
      if (signal.aborted) return;
      this.failures += 1;
      this.onState(this.failures > 1 ? "reconnecting" : "connecting");
      await this.pause(this.delayMs());
    }
  }

  delayMs() {
    const exponential = Math.min(MAX_DELAY_MS, this.baseDelayMs * 2 ** Math.max(0, this.failures - 1));
    return exponential / 2 + Math.random() * (exponential / 2);
  }

  pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
