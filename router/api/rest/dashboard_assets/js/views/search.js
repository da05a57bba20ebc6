// The search console: a points/query request editor with a few examples, the hits as a table
// with scores, and a 2-D PCA projection of a sample of the collection with the hits marked.

import { enc, fromJson, get, post, toJson } from "../api.js";
import { field, h, replace, select, table } from "../dom.js";
import { pca } from "../pca.js";
import { picker } from "../picker.js";
import { scatter } from "../scatter.js";
import { attempt, notify, pretty, tree } from "../ui.js";

// The dense vectors of a collection: [[name or "", size]].
function denseVectors(info) {
  const vectors = info.config.params.vectors ?? {};
  if (typeof vectors.size === "number") return [["", vectors.size]];
  return Object.entries(vectors).map(([n, v]) => [n, v.size]);
}

function distanceOf(info, using) {
  const vectors = info.config.params.vectors ?? {};
  return (typeof vectors.size === "number" ? vectors : vectors[using])?.distance;
}

// Cosine compares directions only: project unit vectors, so the picture shows what it ranks by.
function forDistance(v, distance) {
  if (distance !== "Cosine") return v;
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}

function randomVector(size) {
  return Array.from({ length: size }, () => Number((Math.random() * 2 - 1).toFixed(3)));
}

function examples(info, firstId) {
  const [[using, size] = ["", 0]] = denseVectors(info);
  const named = using ? { using } : {};
  const vector = randomVector(size);
  const out = {
    "Nearest to a vector": { query: vector, ...named, limit: 10, with_payload: true },
    "Filtered search": { query: vector, ...named, limit: 10, with_payload: true,
      filter: { must: [{ key: "color", match: { value: "red" } }] } },
    "Fusion of two prefetches (RRF)": { prefetch: [
      { query: vector, ...named, limit: 20 },
      { query: randomVector(size), ...named, limit: 20 }], query: { fusion: "rrf" }, limit: 10, with_payload: true },
  };
  if (firstId !== undefined) {
    out["Nearest to a point"] = { query: firstId, ...named, limit: 10, with_payload: true };
  }
  return out;
}

function vectorOf(point, using) {
  const v = point.vector;
  if (Array.isArray(v)) return typeof v[0] === "number" ? v : null;
  const named = v?.[using];
  return Array.isArray(named) && typeof named[0] === "number" ? named : null;
}

function hitsTable(points) {
  if (points.length === 0) return h("p", { class: "muted empty" }, "No hits.");
  return table(["#", "Id", "Score", "Payload"], points.map((p, i) => h("tr", { "data-id": toJson(p.id) },
    h("td", { class: "num" }, i + 1),
    h("td", { class: "hit-id" }, String(p.id)),
    h("td", { class: "num score" }, p.score === undefined ? "" : Number(p.score).toFixed(4)),
    h("td", {}, tree(p.payload ?? {}, { open: 1 })))), { id: "hits-table" });
}

export async function render(main, name) {
  const chooser = await picker("search", name);
  name = chooser.name;
  if (!name) {
    replace(main, h("h2", {}, "Search"), h("p", { class: "muted" }, "No collections yet."));
    return;
  }
  const info = await get(`/collections/${enc(name)}`);
  const first = (await post(`/collections/${enc(name)}/points/scroll`, { limit: 1 })).points[0];
  const samples = examples(info, first?.id);
  const names = Object.keys(samples);
  const chooseExample = select("example-picker", names, names[0]);
  const editor = h("textarea", { id: "query-editor", rows: 10, spellcheck: false,
    value: pretty(samples[names[0]]) });
  chooseExample.addEventListener("change", () => { editor.value = pretty(samples[chooseExample.value]); });
  const problem = h("div", { id: "query-problem", class: "problem" });
  const hits = h("div", { id: "hits" });
  const sampleSize = h("input", { id: "sample-size", type: "number", min: 3, max: 2000, value: 200 });
  const plot = h("div", { id: "projection-box" });

  const project = async (using, hitPoints) => {
    const body = { limit: Number(sampleSize.value), with_payload: false, with_vector: using ? [using] : true };
    const sample = await attempt(() => post(`/collections/${enc(name)}/points/scroll`, body));
    if (!sample) return;
    const ids = hitPoints.map((p) => p.id);
    const withVectors = ids.length
      ? await attempt(() => post(`/collections/${enc(name)}/points`, { ids, with_vector: using ? [using] : true }))
      : [];
    const rows = sample.points.map((p) => ({ id: p.id, v: vectorOf(p, using), hit: false }))
      .filter((r) => r.v && !ids.includes(r.id))
      .concat((withVectors ?? []).map((p) => ({ id: p.id, v: vectorOf(p, using), hit: true })).filter((r) => r.v));
    if (rows.length < 3) {
      replace(plot, h("p", { class: "muted" }, "Too few dense vectors to project."));
      return;
    }
    const distance = distanceOf(info, using);
    rows.forEach((r) => { r.v = forDistance(r.v, distance); });
    const { project: toPlane } = pca(rows.map((r) => r.v));
    const dots = rows.map((r) => { const [x, y] = toPlane(r.v); return { id: r.id, x, y, hit: r.hit }; });
    replace(plot, scatter(dots),
      h("p", { class: "muted", id: "projection-caption" },
        `${dots.length - withVectors.length} sampled points (grey) and ${withVectors.length} hits (orange), on their first two principal components.`));
  };

  const run = async () => {
    let body;
    try {
      body = fromJson(editor.value);
      problem.textContent = "";
    } catch (err) {
      problem.textContent = `Not valid JSON: ${err.message}`;
      return;
    }
    const answer = await attempt(() => post(`/collections/${enc(name)}/points/query`, body));
    if (!answer) return;
    replace(hits, h("p", { class: "muted", id: "hits-count" }, `${answer.points.length} hits`), hitsTable(answer.points));
    const using = typeof body.using === "string" ? body.using : (denseVectors(info)[0]?.[0] ?? "");
    await project(using, answer.points);
  };

  replace(main, h("h2", {}, "Search"),
    h("div", { class: "row" }, chooser.element, field("Example", chooseExample), field("Projection sample", sampleSize)),
    field("POST /collections/{name}/points/query", editor), problem,
    h("div", { class: "row" }, h("button", { type: "button", id: "run-query", onclick: run }, "Run query")),
    h("div", { class: "split" }, hits, plot));
  if (!first) notify("This collection has no points yet", "warning");
}
