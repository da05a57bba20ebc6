// The collection chooser the per-collection views share: the chosen name goes into the hash.

import { get } from "./api.js";
import { field, select } from "./dom.js";

export async function collectionNames() {
  const result = await get("/collections");
  return result.collections.map((c) => c.name).sort();
}

// A <select> of collections for `view`; with no name chosen yet, the first one is taken.
export async function picker(view, name, extra = []) {
  const names = await collectionNames();
  const options = [...extra, ...names];
  const chosen = name || (options.length ? (Array.isArray(options[0]) ? options[0][0] : options[0]) : "");
  const input = select("collection-picker", options, chosen);
  input.addEventListener("change", () => { location.hash = `#/${view}/${encodeURIComponent(input.value)}`; });
  return { element: field("Collection", input), name: chosen, names };
}
