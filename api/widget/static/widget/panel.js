// The chat panel's behaviour: sending, the two event streams, the held-action states, and remembering the
// conversation across reloads. Both streams carry the same stored events with the same ids (see the service's
// docs/feed.md), so every stored event is applied once, whichever stream brings it first; the live-only events
// (the reply as it is written, tool progress) come on the per-message stream alone.

import { ApiProblem, ConnectionLost } from "./api.js";
import { FeedFollower } from "./feed.js";
import {
  CONFIRMATION_OUTCOME, CONNECTION, FEEDBACK, WAITING, approvalWords, busyWords, rateLimitWords, toolWords,
} from "./words.js";

export class ChatPanel {
  constructor(view, api, storageKey) {
    this.view = view;
    this.api = api;
    this.storageKey = storageKey;
    this.saved = load(storageKey);
    this.conversationId = this.saved.conversationId ?? null;
    this.seenEvents = new Set();
    this.messages = new Map(); // message id -> bubble
    this.runs = new Map(); // run id -> the assistant's bubble for that run
    this.cards = new Map(); // confirmation id -> card
    this.decisions = new Set(); // approval ids whose decision is shown
    this.feedback = new Map(); // run id -> its "Was this helpful?" item, once per answer
    // What the conversation waits on, which the waiting line shows: approvals a team member has not decided
    // yet, and the hand-off's state ("queued", "claimed" or null). It follows what is open, not the last event:
    // a message sent while an approval is open does not end the wait.
    this.openApprovals = new Set();
    this.handoff = null;
    this.openRunId = null;
    this.sendingBubble = null; // the customer's words on this page, until the service says it stored them
    this.sending = false;
    this.feed = null;
    this.resendAt = 0;
    this.pendingKey = null; // the Idempotency-Key of the text in the composer, kept until it is answered
    this.wire();
  }

  wire() {
    const { view } = this;
    view.launcher.addEventListener("click", () => this.open(true));
    view.closeButton.addEventListener("click", () => this.open(false));
    view.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.open(false);
    });
    view.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    view.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    view.input.addEventListener("input", () => {
      this.pendingKey = null; // new text, new request
    });
    window.addEventListener("online", () => this.feed?.retryNow());
  }

  async start({ open }) {
    this.open(open ?? this.saved.open ?? false, { focus: false });
    if (this.conversationId === null) return;
    try {
      this.showSnapshot(await this.api.readConversation(this.conversationId));
    } catch (error) {
      if (error instanceof ApiProblem && (error.status === 404 || error.status === 403)) {
        this.forget();
        return;
      }
      this.view.setNotice(error instanceof ApiProblem ? error.message : CONNECTION.reconnecting);
    }
    this.follow();
  }

  open(open, { focus = true } = {}) {
    this.view.setOpen(open);
    this.remember({ open });
    if (focus) (open ? this.view.input : this.view.launcher).focus();
  }

  // --- sending -------------------------------------------------------------------------------------------

  async send() {
    const text = this.view.input.value;
    if (!text.trim() || this.sending) return;
    const waitS = Math.ceil((this.resendAt - Date.now()) / 1000);
    if (waitS > 0) return this.view.setNotice(rateLimitWords(waitS));
    this.sending = true;
    this.view.setSendable(false);
    this.view.setNotice(null);
    this.pendingKey ??= newIdempotencyKey();
    const mine = this.view.addMessage("customer", text);
    mine.classList.add("sending");
    this.sendingBubble = mine;
    let accepted = false;
    try {
      if (this.conversationId === null) {
        this.conversationId = (await this.api.createConversation()).id;
        this.remember({ conversationId: this.conversationId, lastEventId: null });
      }
      for await (const event of this.api.sendMessage(this.conversationId, text, this.pendingKey)) {
        if (!accepted) {
          accepted = true;
          this.view.input.value = "";
          this.pendingKey = null;
          mine.classList.remove("sending");
          this.follow(); // from the first message on, the feed brings what happens elsewhere
        }
        this.apply(event);
      }
    } catch (error) {
      if (!accepted) mine.remove();
      this.refused(error, accepted);
    } finally {
      this.sendingBubble = null;
      this.sending = false;
      this.view.setSendable(true);
      if (!this.openRunId) this.view.setActivity(null);
    }
  }

  refused(error, accepted) {
    if (error instanceof ApiProblem && error.status === 409) {
      this.view.setNotice(busyWords());
    } else if (error instanceof ApiProblem && error.status === 429) {
      const seconds = error.retryAfterS ?? 30;
      this.resendAt = Date.now() + seconds * 1000;
      const words = rateLimitWords(seconds);
      this.view.setNotice(words);
      setTimeout(() => {
        if (this.view.notice.textContent === words) this.view.setNotice(null); // they may send again now
      }, seconds * 1000);
    } else if (error instanceof ApiProblem && error.status === 401) {
      this.view.setNotice(CONNECTION.expiredSession);
    } else if (error instanceof ApiProblem) {
      this.view.setNotice(error.message);
    } else if (accepted) {
      // The message was taken and its run carries on at the service: the feed brings the rest.
      this.view.setNotice(CONNECTION.reconnecting);
      this.feed?.retryNow();
    } else {
      this.view.setNotice(CONNECTION.offline);
    }
  }

  // --- events, from either stream --------------------------------------------------------------------------

  /**
   * Apply one event from either stream. Only the feed's position is remembered for a reload: every event up to it
   * came through the feed, whereas the per-message stream's ids skip what happened elsewhere meanwhile.
   */
  apply(event, { fromFeed = false } = {}) {
    if (event.id !== null) {
      const id = Number(event.id);
      if (fromFeed && id > (this.saved.lastEventId ?? 0)) this.remember({ lastEventId: id });
      if (this.seenEvents.has(event.id)) return;
      this.seenEvents.add(event.id);
    }
    const data = event.data ?? {};
    const handler = HANDLERS[event.event];
    if (handler) handler.call(this, data);
  }

  runBubble(runId) {
    let bubble = this.runs.get(runId);
    if (!bubble) {
      bubble = this.view.addMessage("assistant", "", { runId });
      bubble.classList.add("typing");
      bubble.setAttribute("aria-busy", "true");
      this.runs.set(runId, bubble);
    }
    return bubble;
  }

  showMessage(message) {
    // An assistant's reply belongs to its run: the bubble that run's streamed text went into, if there is one.
    const runId = message.role === "assistant" ? (message.run_id ?? this.openRunId) : null;
    const known = this.messages.get(message.id);
    if (known) {
      // Already shown (a reload's snapshot, or the other stream): a bubble the replayed run drew is dropped.
      const replayed = runId ? this.runs.get(runId) : null;
      if (replayed && replayed !== known && !replayed.dataset.messageId) replayed.remove();
      if (runId) this.runs.set(runId, known);
      return;
    }
    let bubble = null;
    const mine = this.sendingBubble;
    if (message.role === "customer" && mine?.isConnected && !mine.dataset.messageId && mine.querySelector(".text").textContent === message.content) bubble = mine;
    if (runId) bubble = this.runBubble(runId);
    if (bubble && !bubble.dataset.messageId) {
      this.view.setText(bubble, message.content);
    } else {
      bubble = this.view.addMessage(message.role, message.content);
    }
    bubble.dataset.messageId = message.id;
    this.messages.set(message.id, bubble);
    if (runId) this.runs.set(runId, bubble);
    this.settled(bubble);
  }

  /** A bubble whose text is final: stop "typing" and announce it (a customer's own words are not read back). */
  settled(bubble) {
    if (bubble.classList.contains("typing")) bubble.classList.remove("typing");
    bubble.removeAttribute("aria-busy");
    if (bubble.dataset.role !== "customer" && !bubble.dataset.announced) {
      bubble.dataset.announced = "true";
      this.view.announce(`${bubble.querySelector(".who").textContent}: ${bubble.querySelector(".text").textContent}`);
    }
  }

  showCard(card, { announce = true } = {}) {
    if (this.cards.has(card.id)) return;
    const item = this.view.addCard(card, (decision) => this.answer(card.id, decision));
    this.cards.set(card.id, item);
    if (announce) this.view.announce(`Please confirm: ${card.summary}`);
  }

  settleCard(id, decision) {
    const item = this.cards.get(id);
    if (item && !item.classList.contains("settled")) this.view.settleCard(item, CONFIRMATION_OUTCOME[decision] ?? decision);
  }

  async answer(confirmationId, decision) {
    const item = this.cards.get(confirmationId);
    if (!item || item.getAttribute("aria-busy") === "true" || item.classList.contains("settled")) return;
    this.view.setCardBusy(item, true);
    this.view.setActivity(toolWords(null, decision === "confirm" ? "Working on it" : "Letting the assistant know"));
    try {
      const answered = await this.api.answerConfirmation(this.conversationId, confirmationId, decision);
      this.settleCard(confirmationId, decision);
      if (answered.run) this.showRun(answered.run);
    } catch (error) {
      this.view.setCardBusy(item, false);
      if (error instanceof ApiProblem && (error.status === 409 || error.status === 404)) {
        this.view.settleCard(item, error.message);
      } else {
        this.view.setNotice(error instanceof ApiProblem ? error.message : CONNECTION.offline);
      }
    } finally {
      this.view.setActivity(null);
    }
  }

  /** A run's outcome, from a response or `run.completed`: its reply, and what it now waits for. */
  showRun(run) {
    const bubble = this.runBubble(run.id);
    // The stored reply is the answer of record; what streamed before it was a draft of the same words.
    if (!bubble.dataset.messageId && run.reply) this.view.setText(bubble, run.reply);
    if (!bubble.querySelector(".text").textContent) {
      bubble.remove();
      this.runs.delete(run.id);
    } else {
      this.settled(bubble);
    }
    if (run.status === "failed") bubble.classList.add("failed");
    if (run.status === "completed" && run.reply && bubble.isConnected) this.askFeedback(run.id);
    if (this.openRunId === run.id) this.openRunId = null;
    if (run.pending_confirmation) this.showCard(run.pending_confirmation);
    const action = run.pending_action;
    if (action && action.status === "pending" && !this.decisions.has(action.approval_id)) this.openApprovals.add(action.approval_id);
    if (run.status === "handed_off" && this.handoff === null) this.handoff = "queued";
    this.showWaiting();
    this.view.setActivity(null);
  }

  /** "Was this helpful?" under a finished answer, once per answer however often its run is shown. */
  askFeedback(runId) {
    if (this.feedback.has(runId)) return;
    const item = this.view.addFeedback(runId, (helpful, comment) => this.giveFeedback(runId, helpful, comment));
    this.feedback.set(runId, item);
  }

  async giveFeedback(runId, helpful, comment) {
    const item = this.feedback.get(runId);
    if (!item || item.getAttribute("aria-busy") === "true" || item.classList.contains("settled")) return;
    this.view.setFeedbackBusy(item, true);
    try {
      await this.api.giveFeedback(this.conversationId, runId, helpful, comment);
      this.view.settleFeedback(item, FEEDBACK.thanks);
    } catch (error) {
      this.view.setFeedbackBusy(item, false);
      if (error instanceof ApiProblem && error.status === 409) this.view.settleFeedback(item, FEEDBACK.thanks);
      else this.view.setNotice(error instanceof ApiProblem ? error.message : CONNECTION.offline);
    }
  }

  /** The waiting line, from what is open now: an undecided approval first, then the hand-off's state. */
  showWaiting() {
    if (this.openApprovals.size) this.view.setWaiting(WAITING.approval);
    else if (this.handoff === "claimed") this.view.setWaiting(WAITING.claimed);
    else if (this.handoff === "queued") this.view.setWaiting(WAITING.handoff);
    else this.view.setWaiting(null);
  }

  /**
   * What `GET /v1/conversations/{id}` says, after a reload: the messages, every held call as it ended (a card
   * answered before the reload still shows its outcome), and whatever is still open. The feed then resumes after
   * the last event this page saw, so nothing shown here comes twice.
   */
  showSnapshot(conversation) {
    for (const entry of inOrder(conversation.messages, conversation.held_calls)) {
      if (entry.message) this.showMessage(entry.message);
      else this.showHeldCall(entry.held);
    }
    this.openApprovals = new Set(
      conversation.held_calls.filter((held) => held.kind === "approval" && held.decision === null).map((held) => held.id),
    );
    this.handoff = conversation.handoff ? conversation.handoff.status : null;
    this.showWaiting();
  }

  showHeldCall(held) {
    if (held.kind === "confirmation") {
      this.showCard(held, { announce: held.decision === null });
      if (held.decision !== null) this.settleCard(held.id, held.decision);
    } else if (held.decision !== null) {
      this.showDecision(held.id, held.decision, held.note, held.decided_amount, { announce: false });
    }
  }

  /** A team member's decision on an approval, once, however often the feed or a snapshot brings it. */
  showDecision(approvalId, decision, note, amount, { announce = true } = {}) {
    if (this.decisions.has(approvalId)) return;
    this.decisions.add(approvalId);
    const words = approvalWords(decision, amount);
    this.view.addNote(note ? `${words} Note: ${note}` : words, "decision");
    if (announce) this.view.announce(words);
  }

  follow() {
    if (this.feed || this.conversationId === null) return;
    this.feed = new FeedFollower(this.api, this.conversationId, {
      lastEventId: this.saved.lastEventId ?? null,
      onEvent: (event) => this.apply(event, { fromFeed: true }),
      onState: (state) => {
        if (state === "reconnecting") this.view.setNotice(CONNECTION.reconnecting);
        else if (state === "connected" && this.view.notice.textContent === CONNECTION.reconnecting) this.view.setNotice(null);
      },
      onGone: () => this.forget(),
    }).start();
  }

  forget() {
    this.feed?.stop();
    this.feed = null;
    this.conversationId = null;
    this.remember({ conversationId: null, lastEventId: null });
  }

  remember(changes) {
    Object.assign(this.saved, changes);
    try {
      localStorage.setItem(this.storageKey, JSON.stringify(this.saved));
    } catch {
      // storage refused (private mode, quota): the widget still works, it only forgets on reload
    }
  }
}

const HANDLERS = {
  "message.created"(data) {
    this.showMessage(data.message);
  },
  "run.started"(data) {
    this.openRunId = data.run_id;
    this.runBubble(data.run_id);
  },
  "message.delta"(data) {
    const runId = data.run_id ?? this.openRunId;
    if (runId) this.view.appendText(this.runBubble(runId), data.text);
  },
  "message.discard"(data) {
    const bubble = this.runs.get(data.run_id ?? this.openRunId);
    if (bubble && !bubble.dataset.messageId) this.view.setText(bubble, "");
  },
  "tool.started"(data) {
    this.view.setActivity(toolWords(data.tool, data.label));
  },
  "tool.finished"() {
    this.view.setActivity(null);
  },
  "confirmation.required"(data) {
    this.showCard(data);
  },
  "confirmation.decided"(data) {
    this.settleCard(data.id, data.decision);
  },
  "approval.required"(data) {
    if (!this.decisions.has(data.approval_id)) this.openApprovals.add(data.approval_id);
    this.showWaiting();
  },
  "approval.decided"(data) {
    this.openApprovals.delete(data.approval_id);
    this.showWaiting();
    this.showDecision(data.approval_id, data.decision, data.note, data.amount);
  },
  "handoff.queued"() {
    this.handoff = "queued";
    this.showWaiting();
  },
  "handoff.claimed"() {
    this.handoff = "claimed";
    this.showWaiting();
  },
  "handoff.closed"() {
    this.handoff = null;
    this.showWaiting();
  },
  "feedback.given"(data) {
    const item = this.feedback.get(data.run_id);
    if (item && !item.classList.contains("settled")) this.view.settleFeedback(item, FEEDBACK.thanks);
  },
  "run.completed"(data) {
    if (data.message) this.showMessage(data.message);
    this.showRun(data.run);
  },
  "run.failed"(data) {
    if (data.message) this.showMessage(data.message);
    if (data.run) this.showRun(data.run);
    else this.view.setNotice(CONNECTION.failed);
  },
};

/**
 * Messages and held calls in the order the customer saw them live: a held call's card comes after the reply of
 * the run that proposed it, and before the first later message of the customer's or any message written after
 * it was decided (the resumed run's reply).
 */
function inOrder(messages, heldCalls) {
  const entries = messages.map((message) => ({ message }));
  for (const held of heldCalls) {
    const created = Date.parse(held.created_at);
    const decided = held.decided_at ? Date.parse(held.decided_at) : Infinity;
    const at = entries.findIndex(({ message }) => {
      if (!message) return false;
      const written = Date.parse(message.created_at);
      return written > created && (message.role === "customer" || written > decided);
    });
    entries.splice(at === -1 ? entries.length : at, 0, { held });
  }
  return entries;
}

/** 128 random bits as hex. Not crypto.randomUUID: that exists only on HTTPS pages, and a store's test page may
 * not be one; getRandomValues works everywhere. */
function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function load(key) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? "{}") ?? {};
  } catch {
    return {};
  }
}
