// The listening-test page: start or resume a session, run its blind trials, save answers.
// Azimuths follow SOFA: 0 = straight ahead, +90 = the listener's LEFT, -90 = RIGHT.
"use strict";

const SESSION_KEY = "binaural-listen-session";
const COLOURS = ["#1f6feb", "#d1495b", "#2a9d8f", "#8f5bd6", "#e08a00", "#3d5a80", "#6a994e",
                 "#b5179e"];
const SVG_NS = "http://www.w3.org/2000/svg";

const state = { session: null, trial: null, answers: {}, active: null, audios: {}, playing: null };
const $ = (id) => document.getElementById(id);

function show(which) {
  for (const id of ["start", "trial", "done"]) $(id).hidden = id !== which;
  document.body.dataset.state = which;
}

function describe(az) {
  if (az === 0) return "straight ahead";
  return `${Math.abs(az)}\u00b0 ${az > 0 ? "left" : "right"}`;
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);  // throws when the server is unreachable
  let data = {};
  try { data = await res.json(); } catch (e) { /* empty body */ }
  return { status: res.status, ok: res.ok, data };
}

// ---- the half circle -------------------------------------------------------------------

function arcGeometry() {
  const svg = $("arc");
  return { svg, cx: +svg.dataset.cx, cy: +svg.dataset.cy, r: +svg.dataset.r };
}

function polar(az, radius) {
  const { cx, cy } = arcGeometry();
  const t = (az * Math.PI) / 180;
  return [cx - radius * Math.sin(t), cy - radius * Math.cos(t)];
}

function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawArc() {
  const { svg, cx, cy, r } = arcGeometry();
  svg.replaceChildren();
  svg.append(svgEl("path", { class: "area", d: `M ${cx - r} ${cy} A ${r} ${r} 0 0 1 ${cx + r} ${cy} Z` }));
  for (const az of [-60, -30, 0, 30, 60]) {
    const [x0, y0] = polar(az, 22);
    const [x1, y1] = polar(az, r);
    svg.append(svgEl("line", { class: "tick", x1: x0, y1: y0, x2: x1, y2: y1 }));
    if (az !== 0) {
      const [tx, ty] = polar(az, r + 8);
      const anchor = Math.abs(az) < 45 ? "middle" : az > 0 ? "end" : "start";
      svg.append(svgEl("text", { class: "tick-label", x: tx, y: ty, "text-anchor": anchor },
                       `${Math.abs(az)}\u00b0 ${az > 0 ? "L" : "R"}`));
    }
  }
  svg.append(svgEl("text", { class: "front", x: cx, y: cy - r - 8 }, "FRONT (0\u00b0)"));
  svg.append(svgEl("text", { class: "side", x: 2, y: cy + 27, "text-anchor": "start" },
                   "\u25c0 LEFT (90\u00b0)"));
  svg.append(svgEl("text", { class: "side", x: 398, y: cy + 27, "text-anchor": "end" },
                   "RIGHT (90\u00b0) \u25b6"));
  // the listener, seen from above, nose to the front
  svg.append(svgEl("ellipse", { class: "head", cx: cx - 15, cy, rx: 3, ry: 6 }));
  svg.append(svgEl("ellipse", { class: "head", cx: cx + 15, cy, rx: 3, ry: 6 }));
  svg.append(svgEl("path", { class: "head", d: `M ${cx - 5} ${cy - 12} L ${cx} ${cy - 19} L ${cx + 5} ${cy - 12} Z` }));
  svg.append(svgEl("circle", { class: "head", cx, cy, r: 13 }));
  const labels = state.trial ? state.trial.labels : [];
  labels.forEach((label, k) => {
    const a = state.answers[label];
    if (a.azimuth_deg === null) return;
    const colour = COLOURS[k % COLOURS.length];
    const radius = r * (0.42 + 0.09 * (k % 6));
    const [x, y] = polar(a.azimuth_deg, radius);
    const [hx, hy] = polar(a.azimuth_deg, 15);
    svg.append(svgEl("line", { class: "ray", x1: hx, y1: hy, x2: x, y2: y, stroke: colour }));
    const g = svgEl("g", { class: `marker${label === state.active ? " active" : ""}` });
    g.append(svgEl("circle", { cx: x, cy: y, r: 10, fill: colour }));
    g.append(svgEl("text", { x, y }, label));
    svg.append(g);
  });
}

function onArcClick(event) {
  if (!state.trial || state.active === null) return;
  const { svg, cx, cy } = arcGeometry();
  const pt = svg.createSVGPoint();
  pt.x = event.clientX;
  pt.y = event.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  // + to the left (SOFA): a click left of the centre gives a positive azimuth
  let az = (Math.atan2(cx - p.x, cy - p.y) * 180) / Math.PI;
  az = Math.round(Math.max(-90, Math.min(90, az)));
  state.answers[state.active].azimuth_deg = az;
  const next = state.trial.labels.find((l) => state.answers[l].azimuth_deg === null);
  render(next === undefined ? state.active : next);
}

// ---- the stimuli -------------------------------------------------------------------------

function stopAudio() {
  for (const a of Object.values(state.audios)) { a.pause(); a.removeAttribute("src"); a.load(); }
  state.audios = {};
  state.playing = null;
}

function togglePlay(label) {
  const audio = state.audios[label];
  if (state.playing === label) {
    audio.pause();
    state.playing = null;
  } else {
    let t = 0;
    if (state.playing !== null) {  // switch at the same moment, as in MUSHRA
      t = state.audios[state.playing].currentTime;
      state.audios[state.playing].pause();
    }
    if (Number.isFinite(audio.duration) && t < audio.duration) audio.currentTime = t;
    audio.play().catch(() => {});
    state.playing = label;
  }
  render(label);
}

function buildRows() {
  const rows = $("rows");
  rows.replaceChildren();
  state.trial.labels.forEach((label, k) => {
    const row = document.createElement("div");
    row.className = "row";
    row.dataset.label = label;
    const play = document.createElement("button");
    play.type = "button";
    play.className = "play";
    play.innerHTML = `<span class="label-chip" style="background:${COLOURS[k % COLOURS.length]}">${label}</span>\u25b6 Play`;
    play.setAttribute("aria-label", `Play ${label}`);
    play.addEventListener("click", (e) => { e.stopPropagation(); togglePlay(label); });
    const dir = document.createElement("span");
    dir.className = "dir";
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = "100";
    slider.step = "1";
    slider.value = "50";
    slider.setAttribute("aria-label", `Naturalness of ${label}, 0 bad to 100 excellent`);
    slider.addEventListener("input", () => {
      state.answers[label].rating = Number(slider.value);
      render(label);
    });
    const out = document.createElement("output");
    row.append(play, dir, slider, out);
    row.addEventListener("click", () => render(label));
    rows.append(row);
  });
}

function render(active) {
  if (active !== undefined) state.active = active;
  for (const row of $("rows").children) {
    const label = row.dataset.label;
    const a = state.answers[label];
    row.classList.toggle("active", label === state.active);
    row.querySelector(".play").classList.toggle("playing", state.playing === label);
    const dir = row.querySelector(".dir");
    dir.textContent = a.azimuth_deg === null ? "click the half circle" : describe(a.azimuth_deg);
    dir.classList.toggle("unset", a.azimuth_deg === null);
    row.dataset.azimuth = a.azimuth_deg === null ? "" : String(a.azimuth_deg);
    row.querySelector("input").classList.toggle("unset", a.rating === null);
    row.querySelector("output").textContent = a.rating === null ? "\u2013" : String(a.rating);
  }
  const complete = state.trial.labels.every(
    (l) => state.answers[l].azimuth_deg !== null && state.answers[l].rating !== null);
  $("submit").disabled = !complete;
  drawArc();
}

function showTrial(trial) {
  stopAudio();
  state.trial = trial;
  state.answers = {};
  for (const label of trial.labels) {
    state.answers[label] = { azimuth_deg: null, rating: null };
    const audio = new Audio();
    audio.preload = "auto";
    audio.loop = true;
    audio.src = trial.audio_urls[label];
    state.audios[label] = audio;
  }
  const picture = $("picture");
  picture.replaceChildren();
  if (trial.video_url) {
    const v = document.createElement("video");
    Object.assign(v, { muted: true, loop: true, autoplay: true, playsInline: true });
    if (trial.frame_url) v.poster = trial.frame_url;
    v.src = trial.video_url;
    picture.append(v);
  } else if (trial.frame_url) {
    const img = document.createElement("img");
    img.src = trial.frame_url;
    img.alt = "the scene";
    picture.append(img);
  }
  $("trial").dataset.trialId = trial.trial_id;
  $("progress").textContent = `Trial ${trial.position + 1} of ${trial.n_trials}`;
  $("trial-msg").textContent = "";
  buildRows();
  show("trial");
  render(trial.labels[0]);
}

// ---- session flow ------------------------------------------------------------------------

function setSession(info) {
  state.session = info;
  localStorage.setItem(SESSION_KEY, info.session_id);
  $("who").textContent = `Listener: ${info.listener} \u00b7 session ${info.session_id.slice(0, 8)}`;
}

async function loadNext() {
  const res = await api("GET", `/api/sessions/${state.session.session_id}/next`);
  if (!res.ok) throw new Error(res.data.error || `HTTP ${res.status}`);
  if (res.data.done) {
    stopAudio();
    localStorage.removeItem(SESSION_KEY);
    $("progress").textContent = "Finished";
    $("done-msg").textContent = `All ${res.data.session.n_trials} trials are saved. You may close this page.`;
    show("done");
  } else {
    showTrial(res.data.trial);
  }
}

async function start(event) {
  event.preventDefault();
  const msg = $("start-msg");
  msg.textContent = "";
  try {
    const res = await api("POST", "/api/sessions",
                          { listener: $("listener").value, new: $("fresh").checked });
    if (!res.ok) { msg.textContent = res.data.error || `HTTP ${res.status}`; return; }
    setSession(res.data);
    await loadNext();
  } catch (e) {
    msg.textContent = "The test server cannot be reached. Is `binaural listen` running?";
  }
}

async function submit() {
  const button = $("submit");
  const msg = $("trial-msg");
  button.disabled = true;
  msg.className = "msg";
  msg.textContent = "Saving\u2026";
  const body = { trial_id: state.trial.trial_id, responses: state.answers };
  let res;
  try {
    res = await api("POST", `/api/sessions/${state.session.session_id}/answers`, body);
  } catch (e) {
    msg.textContent = "Not saved: the server cannot be reached. Your answers for this trial are " +
                      "still here; press the button again when it is back.";
    button.disabled = false;
    return;
  }
  if (res.ok || res.status === 409) {  // 409: saved before the connection dropped
    try { await loadNext(); } catch (e) { msg.textContent = String(e.message || e); }
  } else {
    msg.textContent = `Not saved: ${res.data.error || `HTTP ${res.status}`}`;
    button.disabled = false;
  }
}

async function resumeStored() {
  const stored = localStorage.getItem(SESSION_KEY);
  if (!stored) return false;
  try {
    const res = await api("GET", `/api/sessions/${stored}`);
    if (!res.ok || res.data.done) { localStorage.removeItem(SESSION_KEY); return false; }
    setSession(res.data);
    await loadNext();
    return true;
  } catch (e) {
    $("start-msg").textContent = "The test server cannot be reached. Reload when it is running.";
    return false;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("start-form").addEventListener("submit", start);
  $("submit").addEventListener("click", submit);
  $("arc").addEventListener("click", onArcClick);
  show("start");
  if (!(await resumeStored())) $("listener").focus();
});
