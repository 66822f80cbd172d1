// The panel's DOM, inside a shadow root so the host page's styles and ours never meet. Every piece of text a
// person or the model wrote goes in with textContent: nothing here ever parses HTML from a message.

import { FEEDBACK, WHO, expiresWords } from "./words.js";

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

/** The store's summaries read as a clause ("cancel order #W1: …"); on a card they start a sentence. */
function sentence(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

export class PanelView {
  constructor(host, stylesheetUrl) {
    this.shadow = host.attachShadow({ mode: "open" });
    this.shadow.append(el("link", { rel: "stylesheet", href: stylesheetUrl }));
    this.launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "support-panel", text: "Chat with support" });
    this.closeButton = el("button", { type: "button", class: "close", "aria-label": "Close the chat", text: "×" });
    this.log = el("ol", { class: "log", "aria-label": "Conversation", tabindex: "0" });
    this.waiting = el("p", { class: "waiting", role: "status", hidden: true });
    this.activity = el("p", { class: "activity", role: "status" });
    this.notice = el("p", { class: "notice", role: "alert", hidden: true });
    this.input = el("textarea", { id: "support-input", rows: "2", maxlength: "4000", autocomplete: "off" });
    this.send = el("button", { type: "submit", class: "send", text: "Send" });
    this.form = el("form", { class: "composer" },
      el("label", { for: "support-input", text: "Your message" }), this.input, this.send);
    this.announcer = el("div", { class: "visually-hidden", "aria-live": "polite", "data-announcer": true });
    this.panel = el("section", { id: "support-panel", class: "panel", "aria-label": "Customer support chat", hidden: true },
      el("header", {}, el("h2", { text: "Customer support" }), this.closeButton),
      this.log, this.waiting, this.activity, this.notice, this.form, this.announcer);
    this.shadow.append(el("div", { class: "root" }, this.panel, this.launcher));
  }

  setOpen(open) {
    this.panel.hidden = !open;
    this.launcher.setAttribute("aria-expanded", String(open));
    this.launcher.hidden = open;
  }

  /** A message bubble; `messageId` is null while it is only on this page (sending, or still streaming). */
  addMessage(role, text, { messageId = null, runId = null } = {}) {
    const body = el("p", { class: "text", text });
    const item = el("li", { class: `message ${role}`, "data-role": role, "data-message-id": messageId, "data-run-id": runId },
      el("span", { class: "who", text: WHO[role] ?? role }), body);
    this.log.append(item);
    this.scroll();
    return item;
  }

  setText(item, text) {
    item.querySelector(".text").textContent = text;
    this.scroll();
  }

  appendText(item, text) {
    item.querySelector(".text").append(text);
    this.scroll();
  }

  addNote(text, kind = "note") {
    const item = el("li", { class: `note ${kind}`, text });
    this.log.append(item);
    this.scroll();
    return item;
  }

  /** The confirmation card: what will happen, in the store's words, and the two answers. */
  addCard(card, onAnswer) {
    const confirm = el("button", { type: "button", class: "confirm", text: "Confirm" });
    const decline = el("button", { type: "button", class: "decline", text: "Decline" });
    const outcome = el("p", { class: "outcome", hidden: true });
    const item = el("li", { class: "card", "data-confirmation-id": card.id, "aria-label": "Please confirm" },
      el("p", { class: "card-title", text: "Please confirm" }),
      el("p", { class: "summary", text: sentence(card.summary) }),
      el("p", { class: "expires", text: expiresWords(card.expires_at) }),
      el("div", { class: "actions" }, confirm, decline),
      outcome);
    confirm.addEventListener("click", () => onAnswer("confirm"));
    decline.addEventListener("click", () => onAnswer("decline"));
    this.log.append(item);
    this.scroll();
    return item;
  }

  /**
   * "Was this helpful?" under an answer: Yes / No, then an optional comment with Send (or sending without one),
   * then a thank-you. `onSend(helpful, comment)` posts it; the item is settled by `settleFeedback`.
   */
  addFeedback(runId, onSend) {
    const question = el("p", { class: "feedback-question", id: `feedback-${runId}`, text: FEEDBACK.question });
    const yes = el("button", { type: "button", class: "feedback-yes", text: FEEDBACK.yes });
    const no = el("button", { type: "button", class: "feedback-no", text: FEEDBACK.no });
    const choices = el("div", { class: "actions", role: "group", "aria-labelledby": `feedback-${runId}` }, yes, no);
    const item = el("li", { class: "feedback", "data-feedback-run": runId }, question, choices);
    const choose = (helpful) => {
      const commentId = `feedback-comment-${runId}`;
      const comment = el("textarea", { id: commentId, rows: "2", maxlength: "1000", autocomplete: "off" });
      const send = el("button", { type: "submit", class: "feedback-send", text: FEEDBACK.send });
      const skip = el("button", { type: "button", class: "feedback-skip", text: FEEDBACK.skip });
      const form = el("form", { class: "feedback-comment" },
        el("label", { for: commentId, text: helpful ? FEEDBACK.more.yes : FEEDBACK.more.no }), comment,
        el("div", { class: "actions" }, send, skip));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        onSend(helpful, comment.value.trim());
      });
      skip.addEventListener("click", () => onSend(helpful, ""));
      choices.replaceWith(form);
      question.hidden = true;
      comment.focus();
      this.scroll();
    };
    yes.addEventListener("click", () => choose(true));
    no.addEventListener("click", () => choose(false));
    this.log.append(item);
    this.scroll();
    return item;
  }

  setFeedbackBusy(item, busy) {
    for (const button of item.querySelectorAll("button")) button.setAttribute("aria-disabled", String(busy));
    item.setAttribute("aria-busy", String(busy));
  }

  /** The question answered: its controls give way to `words` (a thank-you), and the keyboard stays in the panel. */
  settleFeedback(item, words) {
    const hadFocus = item.contains(this.shadow.activeElement);
    item.replaceChildren(el("p", { class: "feedback-thanks", text: words }));
    item.classList.add("settled");
    item.removeAttribute("aria-busy");
    if (hadFocus) this.input.focus();
    this.announce(words);
  }

  /** aria-disabled rather than disabled: a disabled button drops the keyboard focus to the page's body. */
  setCardBusy(item, busy) {
    for (const button of item.querySelectorAll("button")) button.setAttribute("aria-disabled", String(busy));
    item.setAttribute("aria-busy", String(busy));
  }

  settleCard(item, words) {
    const hadFocus = item.contains(this.shadow.activeElement);
    item.querySelector(".actions")?.remove();
    item.querySelector(".expires")?.remove();
    const outcome = item.querySelector(".outcome");
    outcome.textContent = words;
    outcome.hidden = false;
    item.classList.add("settled");
    item.removeAttribute("aria-busy"); // answered: nothing on it is in progress any more
    if (hadFocus) this.input.focus(); // the focused button is gone: keep the keyboard user in the panel
  }

  // The lines under the log (waiting, activity, notice) take height from it as they appear: a log that showed
  // its newest message keeps showing it, rather than having the line slide over the last reply.

  setWaiting(words) {
    this.keepingTheEnd(() => {
      this.waiting.textContent = words ?? "";
      this.waiting.hidden = !words;
    });
  }

  setActivity(words) {
    this.keepingTheEnd(() => {
      this.activity.textContent = words ?? "";
    });
  }

  setNotice(words) {
    this.keepingTheEnd(() => {
      this.notice.textContent = words ?? "";
      this.notice.hidden = !words;
    });
  }

  keepingTheEnd(change) {
    const log = this.log;
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
    change();
    if (atEnd) this.scroll();
  }

  setSendable(sendable) {
    this.send.disabled = !sendable;
  }

  announce(text) {
    const line = el("p", { text });
    this.announcer.append(line);
    while (this.announcer.childElementCount > 5) this.announcer.firstElementChild.remove();
  }

  scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }
}
