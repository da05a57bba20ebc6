// The filter editor's checks, made before a request goes out: the text must be JSON, an object,
// and use only the clauses of Qdrant's Filter. The node checks the rest and its answer is shown.

import { fromJson } from "./api.js";

const CLAUSES = ["must", "should", "must_not", "min_should"];

// null when the text is a filter we may send, else a message that says what is wrong.
export function filterProblem(text) {
  if (!text.trim()) return null;
  let value;
  try {
    value = fromJson(text);
  } catch (err) {
    return `Not valid JSON: ${err.message}`;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return "A filter is a JSON object, e.g. {\"must\": [{\"key\": \"city\", \"match\": {\"value\": \"Oslo\"}}]}";
  }
  const unknown = Object.keys(value).filter((k) => !CLAUSES.includes(k));
  if (unknown.length) return `Unknown filter clause ${unknown.map((k) => `"${k}"`).join(", ")}: use ${CLAUSES.join(", ")}`;
  return null;
}

export function parseFilter(text) {
  return text.trim() ? fromJson(text) : undefined;
}
