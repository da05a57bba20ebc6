// An SVG scatter plot: grey dots for the sample, highlighted dots for the hits, each with its id.

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// points: [{id, x, y, hit}]
export function scatter(points, { width = 560, height = 380, pad = 16 } = {}) {
  const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "projection", class: "scatter" });
  if (points.length === 0) return svg;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  const ordered = [...points].sort((a, b) => Number(a.hit) - Number(b.hit));
  for (const p of ordered) {
    const dot = el("circle", { cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: p.hit ? 5 : 3,
      class: p.hit ? "dot hit" : "dot", "data-id": String(p.id) });
    const title = el("title", {});
    title.textContent = `id ${p.id}${p.hit ? " (hit)" : ""}`;
    dot.append(title);
    svg.append(dot);
  }
  return svg;
}
