// The points browser: scroll a collection with a filter, payloads as trees, vectors cut short;
// open one point; delete the selected ones.

import { enc, fromJson, get, post, toJson } from "../api.js";
import { field, h, replace, select, table } from "../dom.js";
import { filterProblem, parseFilter } from "../filter.js";
import { picker } from "../picker.js";
import { attempt, confirmAction, notify, pre, shortVector, tree } from "../ui.js";

export async function render(main, name) {
  const chooser = await picker("points", name);
  name = chooser.name;
  if (!name) {
    replace(main, h("h2", {}, "Points"), h("p", { class: "muted" }, "No collections yet."));
    return;
  }
  const editor = h("textarea", { id: "filter-editor", rows: 4, spellcheck: false,
    placeholder: '{"must": [{"key": "color", "match": {"value": "red"}}]}' });
  const problem = h("div", { id: "filter-problem", class: "problem" });
  const limit = select("page-size", ["10", "20", "50", "100"], "20");
  const results = h("div", { id: "points-results" });
  const detail = h("div", { id: "point-detail" });
  const state = { offsets: [null], page: 0, next: null };
  const check = () => {
    const message = filterProblem(editor.value);
    problem.textContent = message ?? "";
    return message === null;
  };
  editor.addEventListener("input", check);

  const open = async (id) => {
    const point = await attempt(() => get(`/collections/${enc(name)}/points/${enc(id)}`));
    if (point) replace(detail, h("h3", {}, `Point ${id}`), pre(point));
  };

  const load = async () => {
    if (!check()) return;
    const body = { limit: Number(limit.value), with_payload: true, with_vector: true,
      filter: parseFilter(editor.value) };
    const offset = state.offsets[state.page];
    if (offset !== null) body.offset = offset;
    const page = await attempt(() => post(`/collections/${enc(name)}/points/scroll`, body));
    if (!page) return;
    state.next = page.next_page_offset ?? null;
    replace(results, pointsTable(page.points, open), pager(state, load, page.points.length));
  };

  const removeSelected = async () => {
    const ids = [...results.querySelectorAll("input.pick:checked")].map((box) => fromJson(box.value));
    if (ids.length === 0) { notify("Select points first", "warning"); return; }
    if (!(await confirmAction(`Delete ${ids.length} point(s) from "${name}"?`))) return;
    const done = await attempt(() => post(`/collections/${enc(name)}/points/delete?wait=true`, { points: ids }));
    if (done) { notify(`Deleted ${ids.length} point(s)`); load(); }
  };

  replace(main, h("h2", {}, "Points"),
    h("div", { class: "row" }, chooser.element, field("Page size", limit)),
    field("Filter (JSON)", editor), problem,
    h("div", { class: "row" },
      h("button", { type: "button", id: "scroll-button", onclick: () => { state.offsets = [null]; state.page = 0; load(); } }, "Scroll"),
      h("button", { type: "button", id: "delete-selected", class: "danger write", onclick: removeSelected }, "Delete selected")),
    h("div", { class: "split" }, results, detail));
  await load();
}

function pointsTable(points, open) {
  if (points.length === 0) return h("p", { class: "muted empty" }, "No points match.");
  return table(["", "Id", "Payload", "Vector"], points.map((p) => h("tr", { "data-id": toJson(p.id) },
    h("td", {}, h("input", { type: "checkbox", class: "pick", value: toJson(p.id) })),
    h("td", {}, h("a", { href: "javascript:void 0", class: "open-point", onclick: () => open(p.id) }, String(p.id))),
    h("td", { class: "payload" }, tree(p.payload ?? {}, { open: 1 })),
    h("td", { class: "vector" }, shortVector(p.vector)))), { id: "points-table" });
}

function pager(state, load, count) {
  const prev = h("button", { type: "button", id: "prev-page", disabled: state.page === 0,
    onclick: () => { state.page -= 1; load(); } }, "‹ Previous");
  const next = h("button", { type: "button", id: "next-page", disabled: state.next === null,
    onclick: () => { state.offsets[state.page + 1] = state.next; state.page += 1; load(); } }, "Next ›");
  return h("div", { class: "row pager" }, prev, h("span", { class: "muted" }, `page ${state.page + 1} · ${count} shown`), next);
}
