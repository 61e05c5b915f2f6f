// A skeleton viewer on a 2D canvas: perspective camera orbiting the body and following it, ground grid, root path,
// play / pause / scrub / loop / speed, drag to orbit, wheel to zoom, a second motion overlaid (viewer.other). Own code (no three.js): a
// skeleton needs lines and dots only, and the page must work with no network.
"use strict";

class MotionViewer {
  constructor(canvas, motion, controls) {
    this.canvas = canvas; this.ctx = canvas.getContext("2d");
    this.m = motion; this.frame = 0; this.playing = true; this.speed = 1; this.loop = true;
    this.yaw = 0.6; this.pitch = 0.35; this.zoom = 1;
    const J = motion.joints;
    this.center = [J[0][0][0], 0.9, J[0][0][2]];  // the camera follows the body (see draw)
    this.radius = 4;
    this.controls = controls || {};
    this._drag(); this.last = null;
    if (this.controls.scrub) { this.controls.scrub.max = J.length - 1; this.controls.scrub.oninput = e => { this.frame = +e.target.value; this.draw(); }; }
    if (this.controls.play) this.controls.play.onclick = () => { this.playing = !this.playing; if (this.playing && this.frame >= J.length - 1) this.frame = 0; this._label(); };
    if (this.controls.speed) this.controls.speed.onchange = e => { this.speed = +e.target.value; };
    if (this.controls.loop) this.controls.loop.onchange = e => { this.loop = e.target.checked; };
    this._label();
    requestAnimationFrame(t => this._tick(t));
  }
  _label() { if (this.controls.play) this.controls.play.textContent = this.playing ? "❚❚" : "▶"; }
  _drag() {
    let at = null;
    this.canvas.onpointerdown = e => { at = [e.clientX, e.clientY]; this.canvas.setPointerCapture(e.pointerId); };
    this.canvas.onpointermove = e => {
      if (!at) return;
      this.yaw += (e.clientX - at[0]) * 0.01; this.pitch = Math.min(1.4, Math.max(0.05, this.pitch + (e.clientY - at[1]) * 0.01));
      at = [e.clientX, e.clientY]; this.draw();
    };
    this.canvas.onpointerup = () => { at = null; };
    this.canvas.onwheel = e => { e.preventDefault(); this.zoom = Math.min(4, Math.max(0.25, this.zoom * (e.deltaY > 0 ? 1.1 : 0.9))); this.draw(); };
  }
  _tick(t) {
    if (this.last !== null && this.playing) {
      this.frame += (t - this.last) / 1000 * this.m.fps * this.speed;
      const n = this.m.joints.length;
      if (this.frame >= n - 1) { if (this.loop) this.frame = 0; else { this.frame = n - 1; this.playing = false; this._label(); } }
      if (this.controls.scrub) this.controls.scrub.value = Math.floor(this.frame);
    }
    this.last = t; this.draw();
    requestAnimationFrame(s => this._tick(s));
  }
  project(p) {  // world (x, y up, z) -> canvas pixels, perspective from an orbiting camera
    const r = this.radius * this.zoom, c = this.center;
    const eye = [c[0] + r * Math.cos(this.pitch) * Math.sin(this.yaw), c[1] + r * Math.sin(this.pitch), c[2] + r * Math.cos(this.pitch) * Math.cos(this.yaw)];
    const f = norm(sub(c, eye)), s = norm(cross(f, [0, 1, 0])), u = cross(s, f), d = sub(p, eye);
    const x = dot(d, s), y = dot(d, u), z = dot(d, f);
    const scale = this.canvas.height * 1.2 / Math.max(z, 0.05);
    return [this.canvas.width / 2 + x * scale, this.canvas.height / 2 - y * scale, z];
  }
  draw() {
    const g = this.ctx, W = this.canvas.width, H = this.canvas.height, J = this.m.joints;
    const k = Math.min(J.length - 1, Math.floor(this.frame)), root = J[k][0];
    this.center = [this.center[0] + (root[0] - this.center[0]) * 0.2, 0.9, this.center[2] + (root[2] - this.center[2]) * 0.2];
    g.clearRect(0, 0, W, H);
    g.strokeStyle = "#ddd"; g.lineWidth = 1;
    const n = 8, gx = Math.round(this.center[0] * 2) / 2, gz = Math.round(this.center[2] * 2) / 2;  // a grid under the body
    for (let i = -n; i <= n; i++) {
      this._line([gx + i * 0.5, 0, gz - n * 0.5], [gx + i * 0.5, 0, gz + n * 0.5]);
      this._line([gx - n * 0.5, 0, gz + i * 0.5], [gx + n * 0.5, 0, gz + i * 0.5]);
    }
    g.strokeStyle = "#2a9d5c"; g.lineWidth = 2; g.beginPath();
    for (let t = 0; t <= k; t++) { const q = this.project([J[t][0][0], 0, J[t][0][2]]); t ? g.lineTo(q[0], q[1]) : g.moveTo(q[0], q[1]); }
    g.stroke();
    if (this.other) {  // a second motion overlaid in grey (the source of an edit), frame by frame
      const O = this.other.joints, dx = J[0][0][0] - O[0][0][0], dz = J[0][0][2] - O[0][0][2];  // both start at one place
      const o = O[Math.min(O.length - 1, k)].map(p => [p[0] + dx, p[1], p[2] + dz]);
      g.strokeStyle = "#b8b8b8"; g.lineWidth = 3;
      this.other.parents.forEach((p, j) => { if (p >= 0) this._line(o[p], o[j]); });
    }
    const pose = J[k], names = this.m.joint_names;
    g.lineWidth = 3;
    this.m.parents.forEach((p, j) => {
      if (p < 0) return;
      g.strokeStyle = names[j].startsWith("left") ? "#2b6cb0" : names[j].startsWith("right") ? "#c0392b" : "#333";
      this._line(pose[p], pose[j]);
    });
    g.fillStyle = "#111";
    for (const p of pose) { const q = this.project(p); g.beginPath(); g.arc(q[0], q[1], 2.5, 0, 7); g.fill(); }
    g.fillStyle = "#555"; g.font = "12px system-ui";
    g.fillText(`${(k / this.m.fps).toFixed(2)} s / ${((J.length - 1) / this.m.fps).toFixed(2)} s`, 8, H - 8);
  }
  _line(a, b) { const p = this.project(a), q = this.project(b); const g = this.ctx; g.beginPath(); g.moveTo(p[0], p[1]); g.lineTo(q[0], q[1]); g.stroke(); }
}
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const norm = a => { const l = Math.hypot(...a) || 1; return [a[0] / l, a[1] / l, a[2] / l]; };
