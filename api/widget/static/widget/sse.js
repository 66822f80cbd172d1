// Server-Sent Events read from a fetch() response body. EventSource cannot POST or send an Authorization
// header, so both of the widget's streams (the per-message stream and the conversation feed) come through
// fetch and this parser, which follows the WHATWG event-stream rules: lines end in \n, \r\n or \r; a blank line
// dispatches; "data" lines join with \n; a line starting with ":" is a comment (the server's pings).

/**
 * Yields {event, data, id, retry} for each event in the response body, until the body ends.
 * `id` is null for events sent without an `id:` line (the live-only ones).
 * @param {Response} response
 * @param {AbortSignal} [signal]
 */
export async function* readEvents(response, signal) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  let buffer = "";
  let pending = blank();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let text = buffer + value;
      // A chunk ending in \r may be half of a \r\n: hold the \r back until the next chunk says which it is.
      const held = text.endsWith("\r") ? "\r" : "";
      if (held) text = text.slice(0, -1);
      const lines = text.split(/\r\n|\r|\n/);
      buffer = (lines.pop() ?? "") + held; // the last piece may be a line still arriving
      for (const line of lines) {
        if (line === "") {
          if (pending.data.length || pending.retry !== null) yield finished(pending);
          pending = blank();
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let text = colon === -1 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "data") pending.data.push(text);
        else if (field === "event") pending.event = text;
        else if (field === "id" && !text.includes("\0")) pending.id = text;
        else if (field === "retry" && /^\d+$/.test(text)) pending.retry = Number(text);
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock?.();
  }
}

function blank() {
  return { event: "message", data: [], id: null, retry: null };
}

function finished(pending) {
  if (!pending.data.length) return { event: "retry", data: null, id: null, retry: pending.retry };
  let data;
  try {
    data = JSON.parse(pending.data.join("\n"));
  } catch {
    data = { text: pending.data.join("\n") };
  }
  return { event: pending.event, data, id: pending.id, retry: pending.retry };
}
