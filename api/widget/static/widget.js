// The support chat widget. A store page embeds it with one script tag and tells it where the API is and how to
// get the signed-in customer's token:
//
//   <script type="module" src="https://support.example/widget.js"></script>
//   <script type="module">
//     import { mount } from "https://support.example/widget.js";
//     mount({ apiBase: "https://support.example", getToken: async () => (await fetch("/my-token")).text() });
//   </script>
//
// or, without a second script: `data-api-base` on the tag (default: where widget.js came from) and
// `data-get-token="nameOfAGlobalFunction"`, which mounts it as soon as it loads.

import { ApiClient } from "./widget/api.js";
import { ChatPanel } from "./widget/panel.js";
import { PanelView } from "./widget/view.js";

const SCRIPT_URL = new URL(import.meta.url);
export const version = SCRIPT_URL.searchParams.get("v") ?? "1";

/**
 * Put the chat panel on the page. Returns the panel (for tests and for pages that want to open it).
 * @param {{apiBase?: string, getToken: () => Promise<string>, open?: boolean, storageKey?: string,
 *          container?: HTMLElement}} options
 */
export async function mount({ apiBase = SCRIPT_URL.origin, getToken, open, storageKey, container = document.body }) {
  if (typeof getToken !== "function") throw new TypeError("SupportWidget.mount needs getToken: a function returning the customer's token");
  const host = document.createElement("support-widget");
  container.append(host);
  const view = new PanelView(host, new URL("./widget/widget.css", import.meta.url).href);
  const api = new ApiClient({ apiBase, getToken });
  const panel = new ChatPanel(view, api, storageKey ?? `support-widget:${apiBase}`);
  await panel.start({ open });
  return panel;
}

function autoMount() {
  const tag = [...document.querySelectorAll("script[src]")].find((s) => s.src === import.meta.url);
  const tokenFunction = tag?.dataset.getToken;
  if (!tokenFunction) return;
  const getToken = window[tokenFunction];
  if (typeof getToken !== "function") {
    console.error(`support widget: window.${tokenFunction} is not a function`);
    return;
  }
  mount({ apiBase: tag.dataset.apiBase || SCRIPT_URL.origin, getToken });
}

window.SupportWidget = { mount, version };
autoMount();
