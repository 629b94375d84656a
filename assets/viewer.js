// Results viewer for the gr.HTML component (run as its js_on_load body; Gradio passes `element`,
// `props` and `watch`). Everything happens in the browser: hovering a word redraws its 14 x 14
// map, lights up the matched joints and marks the matched time span without a server call.
// The payload (props.value) is built by demo/payload.py.

const NS = "http://www.w3.org/2000/svg";
const COLORS = { L: "#2f7ed8", R: "#e0533a", C: "#4a4a4a" };
const HILITE = "#ffb000";

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const kid of kids) if (kid) el.appendChild(kid);
  return el;
}

function s(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

// Viridis-like ramp for the map cells (t in [0, 1]).
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function ramp(t) {
  t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
  const c = RAMP[i].map((a, j) => Math.round(a + f * (RAMP[i + 1][j] - a)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// ------------------------------------------------------------------------------------------
// A stick-figure player on a canvas: orthographic view, drag to turn it.
class Player {
  constructor(canvas, entry, skel) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.skel = skel;
    this.m = entry.motion;
    this.n = entry.motion.n;
    this.fps = entry.motion.fps;
    this.frame = 0;
    this.t0 = performance.now();
    this.range = null;      // [f0, f1) to loop over while a word is hovered
    this.lit = [];          // joints to highlight
    this.az = -0.6;
    this.el = 0.35;
    this.bounds();
    let dragX = null;
    canvas.addEventListener("pointerdown", (e) => { dragX = e.clientX; });
    window.addEventListener("pointerup", () => { dragX = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (dragX === null) return;
      this.az += (e.clientX - dragX) * 0.01;
      dragX = e.clientX;
      this.bounds();
      this.draw();
    });
  }

  joint(f, j) {
    const o = (f * 22 + j) * 3, mm = this.m.mm;
    return [mm[o] / 1000, mm[o + 1] / 1000, mm[o + 2] / 1000];
  }

  project(p) {
    const ca = Math.cos(this.az), sa = Math.sin(this.az);
    const x = ca * p[0] + sa * p[2], z = -sa * p[0] + ca * p[2];
    const y = Math.cos(this.el) * p[1] - Math.sin(this.el) * z;
    return [x, y];
  }

  bounds() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    const grow = (p) => {
      const [x, y] = this.project(p);
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    };
    for (let f = 0; f < this.n; f += Math.max(1, Math.floor(this.n / 40))) {
      for (let j = 0; j < 22; j++) grow(this.joint(f, j));
    }
    const [gx0, gx1, gz0, gz1] = this.floor();
    for (const x of [gx0, gx1]) for (const z of [gz0, gz1]) grow([x, 0, z]);
    const W = this.canvas.width, H = this.canvas.height, pad = 12;
    this.scale = Math.min((W - 2 * pad) / Math.max(x1 - x0, 0.5), (H - 2 * pad) / Math.max(y1 - y0, 0.5));
    this.cx = W / 2 - this.scale * (x0 + x1) / 2;
    this.cy = H / 2 + this.scale * (y0 + y1) / 2;
  }

  floor() {
    let x0 = Infinity, x1 = -Infinity, z0 = Infinity, z1 = -Infinity;
    for (let f = 0; f < this.n; f++) {
      const p = this.joint(f, 0);
      x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); z0 = Math.min(z0, p[2]); z1 = Math.max(z1, p[2]);
    }
    return [x0 - 0.4, x1 + 0.4, z0 - 0.4, z1 + 0.4];
  }

  screen(p) {
    const [x, y] = this.project(p);
    return [this.cx + this.scale * x, this.cy - this.scale * y];
  }

  tick(now, playing) {
    if (playing) {
      const lo = this.range ? this.range[0] : 0;
      const hi = this.range ? Math.max(this.range[1], lo + 1) : this.n;
      const steps = Math.floor((now - this.t0) * this.fps / 1000);
      this.frame = Math.min(this.n - 1, lo + (steps % (hi - lo)));
    }
    this.draw();
  }

  seek(f) {
    this.frame = Math.max(0, Math.min(this.n - 1, f));
    this.t0 = performance.now() - this.frame * 1000 / this.fps;
  }

  draw() {
    const c = this.ctx, W = this.canvas.width, H = this.canvas.height;
    c.clearRect(0, 0, W, H);
    // Floor grid (half-metre squares) and the pelvis path, for depth and travel.
    const [gx0, gx1, gz0, gz1] = this.floor();
    c.strokeStyle = "#d9dde3"; c.lineWidth = 1;
    c.beginPath();
    const step = 0.5;  // grid squares of half a metre
    for (let x = Math.ceil(gx0 / step) * step; x <= gx1; x += step) { c.moveTo(...this.screen([x, 0, gz0])); c.lineTo(...this.screen([x, 0, gz1])); }
    for (let z = Math.ceil(gz0 / step) * step; z <= gz1; z += step) { c.moveTo(...this.screen([gx0, 0, z])); c.lineTo(...this.screen([gx1, 0, z])); }
    c.stroke();
    c.strokeStyle = "#b8c0cc"; c.beginPath();
    for (let f = 0; f < this.n; f++) {
      const p = this.joint(f, 0), q = this.screen([p[0], 0, p[2]]);
      f ? c.lineTo(...q) : c.moveTo(...q);
    }
    c.stroke();
    const f = this.frame, sk = this.skel;
    c.lineCap = "round"; c.lineWidth = Math.max(2, this.scale * 0.035);
    for (const chain of sk.chains) {
      for (let i = 1; i < chain.length; i++) {
        c.strokeStyle = COLORS[sk.side[chain[i]]];
        c.beginPath(); c.moveTo(...this.screen(this.joint(f, chain[i - 1])));
        c.lineTo(...this.screen(this.joint(f, chain[i]))); c.stroke();
      }
    }
    const head = this.screen(this.joint(f, 15));
    c.fillStyle = COLORS.C; c.beginPath(); c.arc(head[0], head[1], Math.max(3, this.scale * 0.06), 0, 7); c.fill();
    for (const j of this.lit) {
      const p = this.screen(this.joint(f, j));
      c.fillStyle = HILITE; c.strokeStyle = "#7a4f00"; c.lineWidth = 1.5;
      c.beginPath(); c.arc(p[0], p[1], Math.max(5, this.scale * 0.05), 0, 7); c.fill(); c.stroke();
    }
  }
}

// ------------------------------------------------------------------------------------------
function heatmap(entry, word, wordText, skel) {
  const cell = 20, left = 74, top = 8, bottom = 96, G = skel.grid;
  const svg = s("svg", { width: left + G * cell + 8, height: top + G * cell + bottom, class: "mr-heatmap" });
  if (!word) {
    const t = s("text", { x: left, y: top + 60, class: "mr-hint" });
    t.textContent = "Hover a word to see where it matched";
    svg.appendChild(t);
    return svg;
  }
  const vals = word.map.flat().filter((v) => v !== null);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  for (let r = 0; r < G; r++) {
    for (let c = 0; c < G; c++) {
      const v = word.map[r][c];
      const rect = s("rect", {
        x: left + c * cell, y: top + r * cell, width: cell - 1, height: cell - 1,
        fill: v === null ? "#eeeeee" : ramp((v - lo) / Math.max(hi - lo, 1e-6)),
        class: "mr-cell", "data-row": r, "data-col": c,
      });
      const tip = s("title");
      tip.textContent = v === null ? `${skel.part_labels[c]}, no frames (padding)` :
        `${skel.part_labels[c]}, ${entry.blocks[r][0]}-${entry.blocks[r][1]} s: cos ${v.toFixed(3)}`;
      rect.appendChild(tip);
      svg.appendChild(rect);
    }
    const padding = entry.blocks[r][1] <= entry.blocks[r][0];
    if (!padding || r === 0 || !(entry.blocks[r - 1][1] <= entry.blocks[r - 1][0])) {
      const t = s("text", { x: left - 4, y: top + r * cell + cell * 0.7, "text-anchor": "end", class: "mr-axis" });
      t.textContent = padding ? "(no frames)" : `${entry.blocks[r][0].toFixed(1)} s`;
      svg.appendChild(t);
    }
  }
  const best = s("rect", {
    x: left + word.part * cell - 1, y: top + word.block * cell - 1, width: cell + 1, height: cell + 1,
    fill: "none", stroke: "#ff2d55", "stroke-width": 2.5, class: "mr-best",
  });
  svg.appendChild(best);
  for (let c = 0; c < G; c++) {
    const x = left + c * cell + cell / 2, y = top + G * cell + 6;
    const t = s("text", { x, y, transform: `rotate(-55 ${x} ${y})`, "text-anchor": "end", class: "mr-axis" });
    t.textContent = skel.part_labels[c];
    svg.appendChild(t);
  }
  const yl = s("text", { x: 10, y: top + (G * cell) / 2, transform: `rotate(-90 10 ${top + (G * cell) / 2})`, "text-anchor": "middle", class: "mr-axis-title" });
  yl.textContent = "time";
  svg.appendChild(yl);
  svg.setAttribute("data-word", wordText);
  return svg;
}

function timeline(entry, player) {
  const bar = h("div", { class: "mr-timeline", title: "matched time span" });
  const span = h("div", { class: "mr-span" });
  const head = h("div", { class: "mr-playhead" });
  bar.append(span, head);
  bar.addEventListener("click", (e) => {
    const r = bar.getBoundingClientRect();
    player.seek(Math.round((e.clientX - r.left) / r.width * (player.n - 1)));
  });
  return { bar, span, head };
}

// ------------------------------------------------------------------------------------------
function render(root, data) {
  root.innerHTML = "";
  if (typeof data === "string") {
    try { data = data ? JSON.parse(data) : null; } catch (e) { data = null; }
  }
  if (!data || !data.results) {
    root.appendChild(h("div", { class: "mr-empty", text: (data && data.message) || "Results appear here." }));
    return () => {};
  }
  const skel = data.skeleton, isText = data.kind === "text";
  const state = { playing: true, word: null, sel: 0 };

  // Word chips.
  const chips = h("div", { class: "mr-chips" });
  if (isText && data.results.length && data.results[0].words.length) {
    chips.appendChild(h("span", { class: "mr-chips-label", text: "Hover a word:" }));
    data.words.forEach((w, i) => {
      // A word no training caption used: marked, with the closest words the model knows.
      const unseen = data.known && data.known[i] === false;
      const close = unseen ? (data.unknown || []).find((u) => u.word === w.toLowerCase()) : null;
      const chip = h("span", {
        class: unseen ? "mr-chip mr-unseen" : "mr-chip", "data-word": i, text: w, tabindex: 0,
        ...(unseen ? { title: `No training caption used "${w}": its match is a guess` +
          (close && close.closest.length ? ` (closest words it knows: ${close.closest.join(", ")})` : "") } : {}),
      });
      chip.addEventListener("mouseenter", () => setWord(i));
      chip.addEventListener("focus", () => setWord(i));
      chip.addEventListener("mouseleave", () => setWord(null));
      chip.addEventListener("blur", () => setWord(null));
      chips.appendChild(chip);
    });
  }
  root.appendChild(chips);

  // The focused result (or the upload) with its big player, timeline and map.
  const focusEntry = () => (isText ? data.results[state.sel] : data.upload);
  const main = h("div", { class: "mr-main" });
  const focus = h("div", { class: "mr-focus" });
  const title = h("div", { class: "mr-title" });
  const stage = h("canvas", { class: "mr-stage", width: 380, height: 340 });
  const play = h("button", { class: "mr-play", type: "button", text: "Pause" });
  const slider = h("input", { class: "mr-slider", type: "range", min: 0, max: 1, value: 0, step: 1 });
  const clock = h("span", { class: "mr-clock" });
  const mapBox = h("div", { class: "mr-mapbox" });
  const mapNote = h("div", { class: "mr-mapnote" });
  let big = null, tl = null;
  focus.append(title, stage, h("div", { class: "mr-controls" }, play, slider, clock));
  main.appendChild(focus);
  if (isText) main.appendChild(h("div", { class: "mr-side" }, mapBox, mapNote));
  else {
    const caps = h("div", { class: "mr-captions" }, h("div", { class: "mr-subtitle", text: "Closest gallery captions" }));
    const ol = h("ol");
    for (const c of data.captions) ol.appendChild(h("li", {}, h("span", { class: "mr-score", text: c.score.toFixed(3) }), h("span", { text: ` ${c.caption} ` }), h("code", { text: c.id })));
    caps.appendChild(ol);
    main.appendChild(caps);
  }
  root.appendChild(main);

  // Result cards.
  const cards = h("div", { class: "mr-cards" });
  const small = [];
  if (data.results.length) {
    root.appendChild(h("div", { class: "mr-subtitle", text: isText ? "Results (click one to inspect it)" : "Closest motions" }));
  }
  data.results.forEach((r, i) => {
    const cv = h("canvas", { class: "mr-thumb", width: 170, height: 150 });
    const card = h("div", { class: "mr-card", "data-rank": r.rank, "data-id": r.id },
      cv,
      h("div", { class: "mr-card-head" }, h("b", { text: `#${r.rank}` }), h("span", { class: "mr-score", text: r.score.toFixed(3) })),
      h("div", { class: "mr-card-caption", text: r.caption }),
      h("code", { class: "mr-card-id", text: r.id }));
    if (isText) card.addEventListener("click", () => { state.sel = i; selectFocus(); });
    cards.appendChild(card);
    small.push(new Player(cv, r, skel));
  });
  root.appendChild(cards);

  function selectFocus() {
    const e = focusEntry();
    big = new Player(stage, e, skel);
    title.innerHTML = "";
    title.append(...[
      e.rank ? h("b", { text: `#${e.rank} ` }) : null,
      h("span", { class: "mr-caption", text: e.caption }),
      e.score !== null ? h("span", { class: "mr-score", text: ` score ${e.score.toFixed(3)}` }) : null,
      e.parts ? h("span", { class: "mr-parts", title: "A hybrid model's score mixes the words' best patches (what the map shows) with the match of the whole clip to the whole sentence", text: ` (words' best patches ${e.parts.maxsim.toFixed(3)}, whole clip ${e.parts.whole.toFixed(3)})` }) : null,
      h("code", { text: ` ${e.id === e.caption ? "" : e.id} (${e.seconds.toFixed(1)} s)` }),
    ].filter(Boolean));
    slider.max = Math.max(0, big.n - 1);
    if (tl) tl.bar.remove();
    tl = timeline(e, big);
    focus.insertBefore(tl.bar, focus.lastChild);
    cards.querySelectorAll(".mr-card").forEach((c, i) => c.classList.toggle("mr-selected", isText && i === state.sel));
    setWord(state.word);
  }

  function setWord(i) {
    state.word = i;
    const e = focusEntry();
    chips.querySelectorAll(".mr-chip").forEach((c) => c.classList.toggle("mr-active", Number(c.dataset.word) === i));
    const w = i === null || !e.words.length ? null : e.words[i];
    if (isText) {
      mapBox.innerHTML = "";
      mapBox.appendChild(heatmap(e, w, w ? data.words[i] : "", skel));
      const share = w && w.whole_share !== undefined ? `; it gives ${w.whole_share >= 0 ? "+" : ""}${w.whole_share.toFixed(3)} of the whole-clip match ${e.parts.whole.toFixed(3)}` : "";
      const when = w && data.when ? data.when[i] : null;
      const placed = when ? `; the sentence places it at ${Math.round(100 * when.phase)} % of the clip (time weight ${when.gate.toFixed(2)})` : "";
      const guess = w && data.known && data.known[i] === false ? " (a word no training caption used: a guess)" : "";
      mapNote.textContent = w ? `"${data.words[i]}" matched the ${w.part_label}, ${w.seconds[0].toFixed(1)}-${w.seconds[1].toFixed(1)} s (score ${w.similarity.toFixed(2)})${share}${placed}${guess}` : summary();
    }
    big.lit = w ? skel.part_joints[w.part] : [];
    big.range = w ? [Math.floor(w.frames[0] / (e.n_frames / big.n)), Math.ceil(w.frames[1] / (e.n_frames / big.n))] : null;
    if (w) big.seek(big.range[0]);
    if (tl) {
      tl.span.style.display = w ? "block" : "none";
      if (w) {
        tl.span.style.left = `${(100 * w.frames[0]) / e.n_frames}%`;
        tl.span.style.width = `${Math.max(1, (100 * (w.frames[1] - w.frames[0])) / e.n_frames)}%`;
      }
    }
    small.forEach((p, k) => {
      const ww = i === null || !data.results[k].words.length ? null : data.results[k].words[i];
      p.lit = ww ? skel.part_joints[ww.part] : [];
    });
  }

  function summary() {
    const e = focusEntry();
    return e.words.map((w, k) => `${data.words[k]}: ${w.part_label} @ ${w.seconds[0].toFixed(1)} s`).join(" · ");
  }

  play.addEventListener("click", () => {
    state.playing = !state.playing;
    play.textContent = state.playing ? "Pause" : "Play";
    if (state.playing) [big, ...small].forEach((p) => p.seek(p.frame));
  });
  slider.addEventListener("input", () => {
    state.playing = false;
    play.textContent = "Play";
    big.seek(Number(slider.value));
  });

  selectFocus();
  let alive = true;
  const loop = (now) => {
    if (!alive) return;
    if (root.isConnected) {
      big.tick(now, state.playing);
      small.forEach((p) => p.tick(now, state.playing));
      slider.value = big.frame;
      clock.textContent = `${(big.frame / big.fps).toFixed(1)} / ${(big.n / big.fps).toFixed(1)} s`;
      if (tl) tl.head.style.left = `${(100 * big.frame) / Math.max(1, big.n - 1)}%`;
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  return () => { alive = false; };
}

let stop = () => {};
function refresh() {
  stop();
  let root = element.querySelector(".mr-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "mr-root";
    element.appendChild(root);
  }
  try {
    stop = render(root, props.value);
  } catch (err) {
    console.error(err);
    root.textContent = "The results could not be drawn: " + err;
    stop = () => {};
  }
}
refresh();
watch("value", refresh);
