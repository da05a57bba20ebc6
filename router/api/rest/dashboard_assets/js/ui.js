// What every view shares: messages (API errors are shown, never swallowed), the confirmation
// dialog for destructive actions, the API key dialog, and a collapsible tree for payloads.

import { ApiError, apiKey, setApiKey, toJson } from "./api.js";
import { h } from "./dom.js";

const messages = () => document.getElementById("messages");

export function notify(text, kind = "info") {
  const box = h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "text" }, text),
    h("button", { type: "button", class: "close", title: "dismiss",
      onclick: () => box.remove() }, "×"));
  messages().append(box);
  if (kind !== "error") setTimeout(() => box.remove(), 6000);
  return box;
}

export function clearMessages() {
  messages().replaceChildren();
}

export function showError(err) {
  if (err instanceof ApiError) {
    const where = err.path ? `${err.method} ${err.path}` : "request";
    notify(`${where} failed (${err.status || "no answer"}): ${err.message}`, "error");
    if (err.status === 401) askForKey(err.message);
  } else {
    notify(String(err?.message ?? err), "error");
  }
}

// Run an action and show what went wrong, if anything; resolves to the action's value or null.
export async function attempt(action) {
  try {
    return await action();
  } catch (err) {
    showError(err);
    return null;
  }
}

export function confirmAction(text) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

let keyWaiters = [];

export function askForKey(reason) {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  if (reason) document.getElementById("key-reason").textContent = `The node says: ${reason}`;
  input.value = apiKey();
  if (!dialog.open) dialog.showModal();
  input.focus();
  return new Promise((resolve) => keyWaiters.push(resolve));
}

export function setupKeyDialog(onChange) {
  const dialog = document.getElementById("key-dialog");
  document.getElementById("api-key-button").addEventListener("click", () => askForKey());
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "save") setApiKey(document.getElementById("key-input").value.trim());
    if (dialog.returnValue === "clear") setApiKey("");
    const waiters = keyWaiters;
    keyWaiters = [];
    waiters.forEach((resolve) => resolve(apiKey()));
    if (dialog.returnValue === "save" || dialog.returnValue === "clear") onChange();
  });
}

// A JSON value as a tree: objects and arrays fold open and shut, scalars are coloured by type.
export function tree(value, { open = 1, maxItems = 50 } = {}) {
  if (value === null || typeof value !== "object") {
    const kind = value === null ? "null" : (typeof value === "bigint" ? "number" : typeof value);
    return h("span", { class: `json-${kind}` }, toJson(value));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  if (entries.length === 0) return h("span", { class: "json-empty" }, Array.isArray(value) ? "[]" : "{}");
  const shown = entries.slice(0, maxItems);
  const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  return h("details", { class: "tree", open: open > 0 },
    h("summary", {}, summary),
    h("ul", {}, shown.map(([k, v]) => h("li", {},
      h("span", { class: "key" }, `${k}: `), tree(v, { open: open - 1, maxItems })))),
    entries.length > maxItems ? h("span", { class: "muted" }, `… ${entries.length - maxItems} more`) : null);
}

// JSON indented for reading, with arrays of numbers (vectors) kept on one line.
export function pretty(value) {
  return toJson(value, 2)
    .replace(/\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]/g, (_, inner) => `[${inner.split(/,\s*/).join(", ")}]`);
}

export function pre(value) {
  return h("pre", { class: "json" }, pretty(value));
}

// A vector shown short: its first few numbers and its length.
export function shortVector(v) {
  if (Array.isArray(v)) {
    if (Array.isArray(v[0])) return `multivector ${v.length}×${v[0].length}`;
    const head = v.slice(0, 4).map((x) => Number(x).toFixed(3)).join(", ");
    return `[${head}${v.length > 4 ? ", …" : ""}] (${v.length})`;
  }
  if (v && typeof v === "object") {
    if (Array.isArray(v.indices)) return `sparse (${v.indices.length} nonzero)`;
    return Object.entries(v).map(([name, x]) => `${name}: ${shortVector(x)}`).join("; ");
  }
  return "";
}
