// Every call the dashboard makes goes through here, to the node's public REST API.
// The API key, when the user gave one, is sent as the `api-key` header and lives in
// sessionStorage (this tab only). Errors come back as ApiError with the API's own message.

const KEY = "tessera.api-key";

// Peer ids are 63-bit and point ids may be u64: past 2^53 a JS number would round them, and an
// operation would name the wrong peer. Such integers are read as BigInt (from their source
// text) and written back digit for digit (JSON.rawJSON; a browser without it rounds).
function reviveBig(key, value, context) {
  if (typeof value === "number" && !Number.isSafeInteger(value) && /^-?\d+$/.test(context?.source ?? "")) {
    return BigInt(context.source);
  }
  return value;
}

export function fromJson(text) {
  return JSON.parse(text, reviveBig);
}

export function toJson(value, indent) {
  return JSON.stringify(value, (key, v) => (typeof v === "bigint"
    ? (JSON.rawJSON ? JSON.rawJSON(v.toString()) : Number(v)) : v), indent);
}

export class ApiError extends Error {
  constructor(status, message, method, path) {
    super(message);
    this.status = status;
    this.method = method;
    this.path = path;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function headers(json) {
  const out = {};
  const key = apiKey();
  if (key) out["api-key"] = key;
  if (json) out["content-type"] = "application/json";
  return out;
}

async function send(method, path, body) {
  const init = { method, headers: headers(body !== undefined) };
  if (body !== undefined) init.body = toJson(body);
  try {
    return await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `the node did not answer (${err.message})`, method, path);
  }
}

// Reads sent as POST (Qdrant's search-like routes and retrieve); every other POST writes.
const READ_POST = /\/points(\/(scroll|count|query(\/batch|\/groups)?|(search|recommend|discover)(\/.*)?))?$|\/facet$/;

export function isWrite(method, path) {
  return method !== "GET" && !(method === "POST" && READ_POST.test(path.split("?")[0]));
}

// A write refused for want of access (Qdrant's 403 "Forbidden: ... access ... required", as
// for a read-only key) tells the page this key may only read.
function noteReadOnly(error) {
  if (error.status === 403 && isWrite(error.method, error.path) && /access.*required/i.test(error.message)) {
    window.dispatchEvent(new CustomEvent("tessera:read-only", { detail: error.message }));
  }
}

async function failure(resp, method, path) {
  const text = await resp.text();
  let message = text || resp.statusText;
  try {
    const data = fromJson(text);
    message = data?.status?.error ?? message;
  } catch {
    // Qdrant answers some refusals (401) in plain text: keep the text
  }
  const error = new ApiError(resp.status, message, method, path);
  noteReadOnly(error);
  return error;
}

// The `result` of Qdrant's envelope ({result, status, time}).
export async function call(method, path, body) {
  const resp = await send(method, path, body);
  if (!resp.ok) throw await failure(resp, method, path);
  const text = await resp.text();
  if (!text) return null;
  const data = fromJson(text);
  return data !== null && typeof data === "object" && "result" in data ? data.result : data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});
export const put = (path, body) => call("PUT", path, body ?? {});
export const del = (path) => call("DELETE", path);

// Fetch a file with the key and hand it to the browser as a download.
export async function download(path, filename) {
  const resp = await send("GET", path);
  if (!resp.ok) throw await failure(resp, "GET", path);
  const url = URL.createObjectURL(await resp.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const enc = encodeURIComponent;
