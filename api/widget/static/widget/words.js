// Everything the widget says on its own, in one place: tool progress in plain words, the states of a held
// action, and the errors a customer can meet. The service's own `label` wins when an event carries one.

const TOOL_WORDS = {
  get_customer_profile: "Looking up your account",
  get_order_details: "Looking up your order",
  get_product_details: "Checking the product",
  list_product_types: "Looking through the catalogue",
  search_help_centre: "Searching the help centre",
  cancel_pending_order: "Cancelling the order",
  modify_pending_order_address: "Changing the delivery address",
  modify_pending_order_payment: "Changing the payment method",
  modify_pending_order_items: "Changing the items",
  return_delivered_order_items: "Arranging the return",
  exchange_delivered_order_items: "Arranging the exchange",
  modify_customer_address: "Updating your address",
  issue_refund: "Arranging the refund",
  transfer_to_human_agents: "Passing you to a team member",
};

export function toolWords(tool, label) {
  return (label || TOOL_WORDS[tool] || "Working on it") + "…";
}

export const WHO = { customer: "You", assistant: "Support", agent: "Team member" };

export const CONFIRMATION_OUTCOME = {
  confirm: "You confirmed this.",
  decline: "You declined this. Nothing was changed.",
  withdrawn: "Not done: you wrote a new message instead.",
  expired: "This expired. Nothing was changed.",
};

const APPROVAL_OUTCOME = {
  approved: "A team member approved this.",
  amended: "A team member approved this with changes.",
  rejected: "A team member declined this.",
  expired: "No team member could review this in time. Nothing was changed.",
};

const DOLLARS = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

/** A team member's decision; an amended one says the amount it was approved for (a smaller refund, say). */
export function approvalWords(decision, amount) {
  if (decision === "amended" && typeof amount === "number" && amount > 0) {
    return `A team member approved this with changes: ${DOLLARS.format(amount)}.`;
  }
  return APPROVAL_OUTCOME[decision] ?? decision;
}

export const WAITING = {
  approval: "Waiting for a team member to review this request. You can leave this page; the answer will be here.",
  handoff: "Waiting for a team member to join the conversation.",
  claimed: "A team member is looking at your conversation.",
};

export function busyWords() {
  return "We're still answering your last message. Your text is kept: send it again in a moment.";
}

export function rateLimitWords(seconds) {
  const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return `You've sent a lot of messages. You can send again at ${at} (in ${seconds} s). Your text is kept.`;
}

export const CONNECTION = {
  offline: "Connection lost. Your text is kept: send it again when you're back online.",
  reconnecting: "Connection lost. Reconnecting…",
  expiredSession: "Your session has ended. Please sign in to the store again.",
  failed: "Sorry, something went wrong on our side. Please try again.",
};

export function expiresWords(isoTime) {
  const at = new Date(isoTime);
  return Number.isNaN(at.getTime()) ? "" : `Answer by ${at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}.`;
}

/** "Was this helpful?" under an answer, and what follows each choice. */
export const FEEDBACK = {
  question: "Was this answer helpful?",
  yes: "Yes",
  no: "No",
  more: {
    yes: "Glad it helped. Anything you'd like to add? (optional)",
    no: "Sorry it didn't help. What was missing or wrong? (optional)",
  },
  send: "Send",
  skip: "Send without a comment",
  thanks: "Thank you for telling us.",
};
