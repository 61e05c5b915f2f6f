// The studio page: a conversation whose answers are motion cards; motions bound to placeholders as chips.
"use strict";

const $ = id => document.getElementById(id);
const bound = {};  // placeholder name -> {id, label}
let conversation = null;

async function api(path, options) {
  const r = await fetch(path, options);
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(body?.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : `${r.status} ${r.statusText}`);
  return body;
}

function status(text, error = false) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

// A generation request with a job id: its progress is read every 0.4 s and shown, and Cancel stops it.
async function tracked(path, body, label) {
  const job = "j" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
  const bar = $("progress"), cancel = $("cancel");
  cancel.hidden = false; cancel.disabled = false;
  cancel.onclick = () => { cancel.disabled = true; status(`${label}: cancelling…`); fetch(`/api/jobs/${job}`, { method: "DELETE" }); };
  status(`${label}…`);
  const timer = setInterval(async () => {
    let p;
    try { p = await api(`/api/jobs/${job}`); } catch { return; }  // not registered yet
    if (cancel.disabled) return;
    if (p.state === "waiting") { bar.hidden = false; bar.value = 0; status(`${label}: waiting, ${p.ahead} ahead (${p.seconds.toFixed(0)} s)`); }
    if (p.state === "running") {
      const pass = Math.min(p.tokens / Math.max(p.expected, 1), 1);
      bar.hidden = false; bar.value = Math.min(0.99, (Math.max(p.passes - 1, 0) + pass) / Math.max(p.planned, p.passes, 1));
      status(`${label}: pass ${p.passes} of about ${p.planned} (${p.seconds.toFixed(0)} s)`);
    }
  }, 400);
  try {
    return await api(`${path}?job=${job}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } finally { clearInterval(timer); cancel.hidden = true; bar.hidden = true; }
}

function chips() {
  const box = $("chips"); box.innerHTML = "";
  for (const [name, m] of Object.entries(bound)) {
    const chip = document.createElement("span"); chip.className = "chip";
    chip.textContent = `<${name}> = ${m.label}`;
    const x = document.createElement("button"); x.textContent = "×"; x.title = "unbind";
    x.onclick = () => { delete bound[name]; chips(); };
    chip.append(x); box.append(chip);
  }
}

function bind(info) {
  const used = Object.keys(bound);
  const suggestion = used.includes("SourceMotion") ? (used.includes("RefMotion") ? "Motion" + (used.length + 1) : "RefMotion") : "SourceMotion";
  const name = prompt("Name this motion in your instruction as <Name>:", suggestion);
  if (!name) return;
  if (!/^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(name)) { status("a placeholder name is letters, digits and _", true); return; }
  bound[name] = { id: info.id, label: info.caption || info.id };
  chips();
  if (!$("instruction").value.includes(`<${name}>`)) $("instruction").value += ` <${name}>`;
}

async function card(info, into) {
  const node = $("card").content.firstElementChild.cloneNode(true);
  node.dataset.motion = info.id;
  node.querySelector(".meta").textContent = `${info.caption || ""} · ${info.frames} frames at ${info.fps} fps (${((info.frames - 1) / info.fps).toFixed(1)} s) · id ${info.id}`;
  for (const a of node.querySelectorAll(".dl")) { a.href = `/api/motions/${info.id}?format=${a.dataset.format}`; a.download = `${info.id}.${a.dataset.format}`; }
  node.querySelector(".bind").onclick = () => bind(info);
  into.append(node);
  const motion = await api(`/api/motions/${info.id}?format=json`);
  node.viewer = new MotionViewer(node.querySelector("canvas"), motion, {
    play: node.querySelector(".play"), scrub: node.querySelector(".scrub"), speed: node.querySelector(".speed"), loop: node.querySelector(".loop"),
  });
}

function turnBox(instruction) {
  const box = document.createElement("div"); box.className = "turn";
  const you = document.createElement("div"); you.className = "you"; you.textContent = instruction;
  box.append(you); $("turns").append(box); box.scrollIntoView({ block: "end" });
  return box;
}

async function show(box, answer) {
  if (answer.read_as) { const r = document.createElement("div"); r.className = "reasoning"; r.textContent = `read as: ${answer.read_as}`; box.append(r); }
  if (answer.composed) { const c = document.createElement("div"); c.className = "reasoning"; c.textContent = `composed, not generated: ${answer.composed}`; box.append(c); }
  if (answer.kept && answer.kept.length) { const k = document.createElement("div"); k.className = "reasoning"; k.textContent = `kept from the motion edited: ${answer.kept.join(", ")}`; box.append(k); }
  if (answer.reasoning) { const r = document.createElement("div"); r.className = "reasoning"; r.textContent = answer.reasoning; box.append(r); }
  for (const w of answer.warnings) { const d = document.createElement("div"); d.className = "warning"; d.textContent = "⚠ " + w; box.append(d); }
  if (answer.text && answer.text !== "<Motion>") { const t = document.createElement("div"); t.textContent = answer.text; box.append(t); }
  const cards = document.createElement("div"); cards.className = "cards"; box.append(cards);
  for (const m of answer.motions) await card(m, cards);
  for (const [name, id] of Object.entries(answer.bound || {})) {  // compare an edit with what it was made from
    for (const node of cards.querySelectorAll(".card")) {
      const b = document.createElement("button"); b.className = "overlay"; b.textContent = `overlay <${name}>`;
      b.onclick = async () => {
        node.viewer.other = node.viewer.other ? null : await api(`/api/motions/${id}?format=json`);
        b.textContent = node.viewer.other ? `hide <${name}>` : `overlay <${name}>`;
      };
      node.querySelector(".actions").append(b);
    }
  }
}

$("ask").onsubmit = async e => {
  e.preventDefault();
  const instruction = $("instruction").value.trim();
  if (!instruction) return;
  const motions = {};
  for (const [name, m] of Object.entries(bound)) if (instruction.includes(`<${name}>`)) motions[name] = m.id;
  const body = { instruction, motions, samples: +$("samples").value || 1, think: $("think").checked };
  if ($("seconds").value) body.seconds = +$("seconds").value;
  if ($("seed").value) body.seed = +$("seed").value;
  $("send").disabled = true;
  const box = turnBox(instruction);
  try {
    if (!conversation) conversation = (await api("/api/conversations", { method: "POST" })).id;
    const answer = await tracked(`/api/conversations/${conversation}/turns`, body, "generating");
    await show(box, answer);
    $("instruction").value = ""; status(""); health();
  } catch (err) {
    const d = document.createElement("div"); d.className = "warning"; d.textContent = err.message; box.append(d);
    status(err.message, true);
  } finally { $("send").disabled = false; }
};

$("upload").onchange = async e => {
  const file = e.target.files[0]; if (!file) return;
  const form = new FormData(); form.append("file", file);
  status(`reading ${file.name}…`);
  try {
    const info = await api("/api/motions", { method: "POST", body: form });
    const box = turnBox(`uploaded ${file.name}`);
    await show(box, { text: "", warnings: info.warnings, motions: [info] }); status("");
  } catch (err) { status(err.message, true); }
  e.target.value = "";
};

$("save").onclick = async () => {
  if (!conversation) { status("nothing to save yet"); return; }
  const doc = await api(`/api/conversations/${conversation}/export`);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([JSON.stringify(doc)], { type: "application/json" }));
  a.download = "conversation.json"; a.click();
};

$("open").onchange = async e => {
  const file = e.target.files[0]; if (!file) return;
  try {
    const conv = await api("/api/conversations/import", { method: "POST", headers: { "content-type": "application/json" }, body: await file.text() });
    conversation = conv.id; $("turns").innerHTML = "";
    for (const t of conv.turns) await show(turnBox(t.instruction), t);
    status(`opened ${file.name}: ${conv.turns.length} turns`);
  } catch (err) { status(err.message, true); }
  e.target.value = "";
};

// ---- the timeline: rows of (instruction, seconds); each row keeps its seed until regenerated
function addRow(text = "", seconds = 3) {
  const row = document.createElement("div"); row.className = "row";
  row.innerHTML = `<input class="text" placeholder="what happens in this segment"><input class="secs" type="number" min="0.5" max="20" step="0.5">
    <button class="again" type="button" title="regenerate this segment alone">↻</button><button class="drop" type="button" title="remove">×</button>`;
  row.querySelector(".text").value = text; row.querySelector(".secs").value = seconds;
  row.querySelector(".again").onclick = () => { row.dataset.seed = ""; makeTimeline(); };
  row.querySelector(".drop").onclick = () => row.remove();
  $("rows").append(row);
}

async function makeTimeline() {
  const rows = [...document.querySelectorAll("#rows .row")];
  const segments = rows.map(r => ({ instruction: r.querySelector(".text").value.trim(), seconds: +r.querySelector(".secs").value,
    ...(r.dataset.seed ? { seed: +r.dataset.seed } : {}) }));
  if (!segments.length || segments.some(s => !s.instruction || !(s.seconds > 0))) { status("every segment needs words and seconds", true); return; }
  $("make-timeline").disabled = true;
  try {
    const tl = await tracked("/api/timeline", { segments }, "generating the timeline");
    rows.forEach((r, k) => { r.dataset.seed = tl.seeds[k]; });
    $("timeline-out").innerHTML = "";
    const box = document.createElement("div"); box.className = "turn"; $("timeline-out").append(box);
    const marks = document.createElement("div"); marks.className = "meta";
    marks.textContent = segments.map((s, k) => `${s.instruction} from ${(tl.starts[k] / tl.motion.fps).toFixed(1)} s`).join(" · ");
    box.append(marks);
    await show(box, { text: "", warnings: [], motions: [tl.motion] });
    status("");
  } catch (err) { status(err.message, true); } finally { $("make-timeline").disabled = false; }
}

$("add-row").onclick = () => addRow();
$("make-timeline").onclick = makeTimeline;
addRow("a person walks forward", 4); addRow("a person waves with the right hand", 3);

let shelf = [];
api("/api/library").then(items => {
  shelf = items;
  for (const m of items) { const o = document.createElement("option"); o.value = m.id; o.textContent = m.caption; $("library").append(o); }
}).catch(() => {});
$("library").onchange = async e => {
  const info = shelf.find(m => m.id === e.target.value); e.target.value = "";
  if (!info) return;
  await show(turnBox(`from the library: ${info.caption}`), { text: "", warnings: [], motions: [info] });
};

function health() { api("/api/health").then(h => { $("health").textContent = `model ${h.model}`; }).catch(() => { $("health").textContent = "server unreachable"; }); }
health();
