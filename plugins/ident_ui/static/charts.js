// Three small SVG charts drawn by hand: no chart library, no CDN (the page works offline).
// Every mark carries data-* attributes with its figure, and a <title> for the tooltip.
"use strict";

const IdentCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2e90fa", "#12b76a", "#f79009", "#7a5af8", "#ee46bc", "#06aed4", "#667085", "#f04438"];
  const W = 460, H = 220, M = { top: 10, right: 40, bottom: 34, left: 40 };

  function el(name, attrs = {}, parent = null) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function titled(node, text) {
    el("title", {}, node).textContent = text;
    return node;
  }

  function svg(container, height = H) {
    container.replaceChildren();
    return el("svg", { viewBox: `0 0 ${W} ${height}`, width: "100%", role: "img" }, container);
  }

  // A round upper bound for the axis and its ticks: 0, step, 2 step, ...
  function niceMax(value) {
    if (value <= 0) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(value));
    const step = [1, 2, 5, 10].find((f) => f * magnitude >= value / 4) * magnitude;
    return Math.ceil(value / step) * step;
  }

  function yAxis(root, max, x, format = String) {
    for (let i = 0; i <= 4; i++) {
      const value = (max * i) / 4, y = M.top + (H - M.top - M.bottom) * (1 - i / 4);
      el("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, stroke: "#e4e7eb" }, root);
      const anchor = x < W / 2 ? "end" : "start";
      el("text", { x, y: y + 3, "text-anchor": anchor }, root).textContent = format(value);
    }
  }

  function dayTicks(root, labels, xOf) {
    labels.forEach((label, i) => {
      if (i % 5 !== labels.length % 5 && i !== labels.length - 1) return;
      el("text", { x: xOf(i), y: H - M.bottom + 14, "text-anchor": "middle" }, root).textContent = label.slice(5);
    });
  }

  function legend(container, names, colors = names.map((_, i) => COLORS[i % COLORS.length])) {
    const box = document.createElement("div");
    box.className = "legend";
    names.forEach((name, i) => {
      const item = document.createElement("span");
      item.style.setProperty("--color", colors[i]);
      item.textContent = name;
      box.appendChild(item);
    });
    container.appendChild(box);
  }

  // Bars per day, one stacked segment per series (leads per source).
  function stackedBars(container, labels, series) {
    const root = svg(container);
    const totals = labels.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
    const max = niceMax(Math.max(0, ...totals));
    const plotH = H - M.top - M.bottom, band = (W - M.left - M.right) / labels.length;
    yAxis(root, max, M.left - 4);
    labels.forEach((label, i) => {
      let base = H - M.bottom;
      series.forEach((s, k) => {
        const value = s.values[i];
        if (!value) return;
        const h = (value / max) * plotH;
        base -= h;
        titled(el("rect", {
          x: M.left + i * band + 1, y: base, width: Math.max(band - 2, 1), height: h,
          fill: COLORS[k % COLORS.length], "data-series": s.name, "data-label": label, "data-value": value,
        }, root), `${label} ${s.name}: ${value}`);
      });
    });
    dayTicks(root, labels, (i) => M.left + (i + 0.5) * band);
    legend(container, series.map((s) => s.name));
  }

  // One horizontal bar per item (leads by UTM source / campaign).
  function horizontalBars(container, items) {
    const rowH = 18, height = Math.max(items.length, 1) * rowH + 10;
    const root = svg(container, height);
    if (!items.length) {
      el("text", { x: 10, y: 16 }, root).textContent = "No leads with UTM tags";
      return;
    }
    const max = Math.max(...items.map((item) => item.value)), labelW = 210, barW = W - labelW - 50;
    items.forEach((item, i) => {
      const y = 5 + i * rowH;
      el("text", { x: labelW - 6, y: y + 12, "text-anchor": "end" }, root).textContent = item.label;
      titled(el("rect", {
        x: labelW, y: y + 2, height: rowH - 5, width: Math.max((item.value / max) * barW, 1),
        fill: COLORS[0], "data-label": item.label, "data-value": item.value,
      }, root), `${item.label}: ${item.value}`);
      el("text", { x: labelW + (item.value / max) * barW + 4, y: y + 12 }, root).textContent = item.value;
    });
  }

  // Bars of a total per day and a line of one part's share of it (calls and the lost share).
  function barsWithShare(container, labels, totals, parts, names) {
    const root = svg(container);
    const max = niceMax(Math.max(0, ...totals));
    const plotH = H - M.top - M.bottom, band = (W - M.left - M.right) / labels.length;
    yAxis(root, max, M.left - 4);
    for (let i = 0; i <= 4; i++) {
      const y = M.top + plotH * (1 - i / 4);
      el("text", { x: W - M.right + 4, y: y + 3 }, root).textContent = `${i * 25}%`;
    }
    const points = [];
    labels.forEach((label, i) => {
      const h = (totals[i] / max) * plotH, x = M.left + i * band;
      titled(el("rect", {
        x: x + 1, y: H - M.bottom - h, width: Math.max(band - 2, 1), height: h, fill: COLORS[0],
        "data-series": names[0], "data-label": label, "data-value": totals[i],
      }, root), `${label}: ${totals[i]} ${names[0]}`);
      if (!totals[i]) return;
      const share = (100 * parts[i]) / totals[i], cx = x + band / 2, cy = M.top + plotH * (1 - share / 100);
      points.push(`${cx},${cy}`);
      titled(el("circle", {
        cx, cy, r: 2.5, fill: COLORS[7], "data-series": names[1], "data-label": label,
        "data-value": share.toFixed(1), "data-part": parts[i],
      }, root), `${label}: ${parts[i]} of ${totals[i]} lost (${share.toFixed(1)}%)`);
    });
    el("polyline", { points: points.join(" "), fill: "none", stroke: COLORS[7], "stroke-width": 1.5 }, root);
    dayTicks(root, labels, (i) => M.left + (i + 0.5) * band);
    legend(container, names, [COLORS[0], COLORS[7]]);
  }

  return { stackedBars, horizontalBars, barsWithShare };
})();
