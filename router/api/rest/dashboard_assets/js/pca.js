// A 2-D projection of vectors by principal component analysis, computed in the browser.
// The two components come from power iteration on XᵀX (the centred sample), the second after
// the first is deflated away, so no d×d matrix is ever built.

function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i += 1) s += a[i] * b[i];
  return s;
}

function normalize(v) {
  const n = Math.sqrt(dot(v, v)) || 1;
  return v.map((x) => x / n);
}

function component(rows, avoid, iterations = 60) {
  const d = rows[0].length;
  // a fixed start (not random): the same sample always gives the same picture
  let v = normalize(Array.from({ length: d }, (_, i) => 1 + ((i * 7919) % 13) / 13));
  for (let it = 0; it < iterations; it += 1) {
    const next = new Array(d).fill(0);
    for (const row of rows) {
      const s = dot(row, v);
      for (let i = 0; i < d; i += 1) next[i] += s * row[i];
    }
    for (const u of avoid) {
      const s = dot(next, u);
      for (let i = 0; i < d; i += 1) next[i] -= s * u[i];
    }
    v = normalize(next);
  }
  return v;
}

// {mean, axes: [pc1, pc2], project(vector) -> [x, y]} for the sample `vectors` (arrays of numbers).
export function pca(vectors) {
  const d = vectors[0].length;
  const mean = new Array(d).fill(0);
  for (const v of vectors) for (let i = 0; i < d; i += 1) mean[i] += v[i] / vectors.length;
  const rows = vectors.map((v) => v.map((x, i) => x - mean[i]));
  const first = component(rows, []);
  const second = component(rows, [first]);
  const project = (v) => {
    const c = v.map((x, i) => x - mean[i]);
    return [dot(c, first), dot(c, second)];
  };
  return { mean, axes: [first, second], project };
}
