// The workflow diagram. A Conductor definition is a tree of nested blocks (a sequence;
// forks, switches and loops holding sequences), so the layout composes boxes recursively:
// each block knows its width and height and draws itself at a position. No general graph
// layout is needed, and the same definition always draws the same way (ADR 13).

import { h, s, clear, fill } from './dom.js';

/** Branches of one dynamic fork drawn one by one; the rest are summed up in one box. */
const MAX_DYNAMIC_SHOWN = 40;

const NW = 200, NH = 48, VG = 32, HG = 24, PAD = 14, GUTTER = 26, DOT = 12;

/** The zoom the user chose, kept for the diagrams drawn after (live redraws, other pages). */
let chosenZoom = null;

const baseRef = (ref) => String(ref || '').replace(/__\d+$/, '');

function node(t) {
  return { w: NW, h: NH, draw(x, y, out) { out.nodes.push({ x, y, t }); } };
}

function placeholder(text) {
  return { w: NW, h: NH, draw(x, y, out) { out.placeholders.push({ x, y, text }); } };
}

function seq(tasks, ctx) {
  const parts = [];
  for (let i = 0; i < tasks.length; i += 1) {
    const t = tasks[i];
    const isFork = t.type === 'FORK_JOIN' || t.type === 'FORK_JOIN_DYNAMIC';
    if (isFork && tasks[i + 1]?.type === 'JOIN') {
      parts.push(fork(t, tasks[i + 1], ctx));
      i += 1;
    } else {
      parts.push(block(t, ctx));
    }
  }
  if (!parts.length) return { w: NW / 2, h: 0, draw() {} };
  const w = Math.max(...parts.map((p) => p.w));
  const height = parts.reduce((a, p) => a + p.h, 0) + VG * (parts.length - 1);
  return {
    w, h: height,
    draw(x, y, out) {
      let cy = y;
      parts.forEach((p, i) => {
        if (i > 0) out.edges.push({ pts: [[x + w / 2, cy - VG], [x + w / 2, cy]] });
        p.draw(x + (w - p.w) / 2, cy, out);
        cy += p.h + VG;
      });
    },
  };
}

function forkBranches(t, ctx) {
  if (t.type === 'FORK_JOIN_DYNAMIC') {
    const spawned = ctx.dynamic.get(t.taskReferenceName) || [];
    if (!spawned.length) return [{ label: 'dynamic', lay: placeholder('branches decided at run time') }];
    const shown = spawned.slice(0, MAX_DYNAMIC_SHOWN).map((task) => ({ label: '', lay: node(task) }));
    if (spawned.length > MAX_DYNAMIC_SHOWN) {
      shown.push({ label: '', lay: placeholder(`and ${spawned.length - MAX_DYNAMIC_SHOWN} more branches`) });
    }
    return shown;
  }
  return (t.forkTasks || []).map((branch, i) => ({ label: `${i + 1}`, lay: seq(branch, ctx) }));
}

function fork(t, join, ctx) {
  return branchRow(t, forkBranches(t, ctx), join);
}

/** A head node, branches side by side, and a tail: the JOIN node, or a merge dot. */
function branchRow(head, branches, join) {
  const bw = branches.reduce((a, b) => a + b.lay.w, 0) + HG * Math.max(0, branches.length - 1);
  const w = Math.max(NW, bw);
  const maxH = Math.max(0, ...branches.map((b) => b.lay.h));
  const tailH = join ? NH : DOT;
  return {
    w, h: NH + VG + maxH + VG + tailH,
    draw(x, y, out) {
      const mid = x + w / 2;
      out.nodes.push({ x: mid - NW / 2, y, t: head });
      const top = y + NH, rowY = top + VG, tailY = rowY + maxH + VG;
      let bx = x + (w - bw) / 2;
      for (const b of branches) {
        const cx = bx + b.lay.w / 2;
        out.edges.push({ pts: [[mid, top], [mid, top + VG / 2], [cx, top + VG / 2], [cx, rowY]], label: b.label, at: [cx + 5, rowY - 7], anchor: 'start' });
        b.lay.draw(bx, rowY, out);
        out.edges.push({ pts: [[cx, rowY + b.lay.h], [cx, tailY - VG / 2], [mid, tailY - VG / 2], [mid, tailY]] });
        bx += b.lay.w + HG;
      }
      if (join) out.nodes.push({ x: mid - NW / 2, y: tailY, t: join });
      else out.dots.push({ x: mid, y: tailY + DOT / 2 });
    },
  };
}

function loop(t, ctx) {
  const inner = seq(t.loopOver || [], ctx);
  const iw = inner.w + 2 * PAD, ih = inner.h + 2 * PAD;
  const w = Math.max(NW, iw) + 2 * GUTTER;
  return {
    w, h: NH + VG + ih,
    draw(x, y, out) {
      const mid = x + w / 2;
      const nx = mid - NW / 2;
      out.nodes.push({ x: nx, y, t });
      const fx = mid - iw / 2, fy = y + NH + VG;
      out.frames.push({ x: fx, y: fy, w: iw, h: ih, label: 'loop body' });
      out.edges.push({ pts: [[mid, y + NH], [mid, fy + PAD]] });
      inner.draw(fx + PAD, fy + PAD, out);
      const gx = Math.min(fx, nx) - GUTTER / 2;
      out.edges.push({
        pts: [[fx, fy + ih - PAD], [gx, fy + ih - PAD], [gx, y + NH / 2], [nx, y + NH / 2]],
        dashed: true, label: 'repeat', at: [gx - 2, fy + ih / 2], vertical: true,
      });
    },
  };
}

function block(t, ctx) {
  switch (t.type) {
    case 'SWITCH':
    case 'DECISION': {
      const cases = Object.entries(t.decisionCases || {}).map(([k, v]) => ({ label: k, lay: seq(v, ctx) }));
      cases.push({ label: 'default', lay: seq(t.defaultCase || [], ctx) });
      return branchRow(t, cases, null);
    }
    case 'FORK_JOIN':
    case 'FORK_JOIN_DYNAMIC':
      return branchRow(t, forkBranches(t, ctx), null);
    case 'DO_WHILE':
      return loop(t, ctx);
    default:
      return node(t);
  }
}

/** Every node of a definition, depth first (for tests and the task list). */
export function allNodes(tasks, out = []) {
  for (const t of tasks || []) {
    out.push(t);
    for (const b of t.forkTasks || []) allNodes(b, out);
    for (const c of Object.values(t.decisionCases || {})) allNodes(c, out);
    allNodes(t.defaultCase, out);
    allNodes(t.loopOver, out);
  }
  return out;
}

/** Per base reference name: the latest task, and how many tasks (attempts, iterations). */
export function taskIndex(tasks) {
  const latest = new Map(), count = new Map();
  for (const t of tasks || []) {
    const ref = baseRef(t.referenceTaskName);
    count.set(ref, (count.get(ref) || 0) + 1);
    const prev = latest.get(ref);
    if (!prev || (t.seq || 0) >= (prev.seq || 0)) latest.set(ref, t);
  }
  return { latest, count };
}

/** Runtime tasks of dynamic forks: tasks not in the definition, each under the last
 * FORK_JOIN_DYNAMIC scheduled before it. */
function dynamicBranches(def, tasks) {
  const out = new Map();
  if (!tasks) return out;
  const known = new Set(allNodes(def.tasks).map((t) => t.taskReferenceName));
  let fork = null;
  for (const t of [...tasks].sort((a, b) => (a.seq || 0) - (b.seq || 0))) {
    if (t.taskType === 'FORK_JOIN_DYNAMIC' || t.taskType === 'FORK') fork = baseRef(t.referenceTaskName);
    else if (fork && !known.has(baseRef(t.referenceTaskName))) {
      if (!out.has(fork)) out.set(fork, []);
      out.get(fork).push({ taskReferenceName: t.referenceTaskName, type: t.taskType, name: t.taskDefName, runtime: true });
    }
  }
  return out;
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/**
 * The diagram of `def` as an element. Options: `tasks` (an execution's tasks: nodes take
 * their status and attempt count), `onSelect(ref)` (nodes become buttons), `selected`,
 * `linkSub(t, task)` (an href for a sub-workflow node).
 */
export function diagram(def, { tasks = null, onSelect = null, selected = null, linkSub = null } = {}) {
  const ctx = { dynamic: dynamicBranches(def, tasks) };
  const lay = seq(def.tasks || [], ctx);
  const out = { nodes: [], edges: [], frames: [], dots: [], placeholders: [] };
  const M = 24;
  // Start and end markers around the workflow's own sequence.
  const start = { x: M + lay.w / 2, y: M };
  lay.draw(M, M + 2 * DOT + VG, out);
  const endY = M + 2 * DOT + VG + lay.h + VG;
  out.edges.push({ pts: [[start.x, start.y + DOT], [start.x, M + 2 * DOT + VG]] });
  if (lay.h > 0) out.edges.push({ pts: [[start.x, endY - VG], [start.x, endY]] });
  const W = lay.w + 2 * M + GUTTER, H = endY + 2 * DOT + M;
  const index = tasks ? taskIndex(tasks) : null;

  const svg = s('svg', {
    class: 'diagram-svg', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'group',
    'aria-label': `Diagram of ${def.name}`,
  });
  svg.append(s('defs', {}, s('marker', {
    id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse',
  }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }))));
  for (const f of out.frames) {
    svg.append(s('rect', { class: 'frame', x: f.x, y: f.y, width: f.w, height: f.h, rx: 8 }));
  }
  for (const e of out.edges) {
    const d = e.pts.map(([x, y], i) => `${i ? 'L' : 'M'} ${x} ${y}`).join(' ');
    svg.append(s('path', { class: e.dashed ? 'edge dashed' : 'edge', d, 'marker-end': 'url(#arrow)' }));
    if (e.label) {
      const [lx, ly] = e.at;
      svg.append(s('text', {
        class: 'edge-label', x: lx, y: ly, 'text-anchor': e.anchor || 'middle',
        transform: e.vertical ? `rotate(-90 ${lx} ${ly})` : undefined,
      }, truncate(e.label, 24)));
    }
  }
  svg.append(s('circle', { class: 'terminal', cx: start.x, cy: start.y + DOT / 2, r: DOT / 2 }, s('title', {}, 'start')));
  svg.append(s('circle', { class: 'terminal end', cx: start.x, cy: endY + DOT, r: DOT }, s('title', {}, 'end')));
  for (const d of out.dots) svg.append(s('circle', { class: 'merge', cx: d.x, cy: d.y, r: DOT / 2 }));
  for (const p of out.placeholders) {
    svg.append(s('g', { class: 'node placeholder' },
      s('rect', { x: p.x, y: p.y, width: NW, height: NH, rx: 6 }),
      s('text', { x: p.x + NW / 2, y: p.y + NH / 2 + 4, 'text-anchor': 'middle', class: 'type' }, p.text)));
  }
  for (const n of out.nodes) {
    const t = n.t;
    const ref = t.taskReferenceName;
    const task = index?.latest.get(baseRef(ref));
    const status = task ? task.status : (tasks ? 'NOT_STARTED' : null);
    const attempts = index?.count.get(baseRef(ref)) || 0;
    const label = `${ref} (${t.type || 'SIMPLE'})${status ? `: ${status}` : ''}${attempts > 1 ? `, ${attempts} attempts` : ''}`;
    const g = s('g', {
      class: `node t-${t.type || 'SIMPLE'}${status ? ` st-${status}` : ''}${selected && selected === ref ? ' selected' : ''}`,
      'data-ref': ref, 'data-type': t.type || 'SIMPLE', 'data-status': status || undefined,
      'aria-label': label,
      role: onSelect ? 'button' : 'img', tabindex: onSelect ? '0' : undefined,
    });
    g.append(s('title', {}, label));
    g.append(s('rect', { x: n.x, y: n.y, width: NW, height: NH, rx: t.type === 'SWITCH' || t.type === 'DECISION' ? 14 : 6 }));
    g.append(s('text', { class: 'ref', x: n.x + 10, y: n.y + 20 }, truncate(ref, 24)));
    g.append(s('text', { class: 'type', x: n.x + 10, y: n.y + 38 }, truncate(`${t.type || 'SIMPLE'}${t.name && t.name !== ref && t.name !== t.type ? ` · ${t.name}` : ''}`, 28)));
    if (attempts > 1) {
      g.append(s('circle', { class: 'attempts', cx: n.x + NW - 4, cy: n.y + 4, r: 10 }));
      g.append(s('text', { class: 'attempts-text', x: n.x + NW - 4, y: n.y + 8, 'text-anchor': 'middle' }, `×${attempts}`));
    }
    if (t.type === 'SUB_WORKFLOW' && linkSub) {
      const href = linkSub(t, task);
      if (href) {
        g.append(s('a', { href, class: 'sublink', 'aria-label': `open sub-workflow of ${ref}` },
          s('text', { x: n.x + NW - 10, y: n.y + 38, 'text-anchor': 'end' }, 'open ↗')));
      }
    }
    if (onSelect) {
      g.addEventListener('click', (e) => { if (!e.target.closest('a')) onSelect(ref); });
      g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(ref); } });
    }
    svg.append(g);
  }

  let zoom = 1;
  const setZoom = (z) => {
    zoom = Math.min(2.5, Math.max(0.3, z));
    svg.setAttribute('width', String(W * zoom));
    svg.setAttribute('height', String(H * zoom));
  };
  const choose = (z) => { setZoom(z); chosenZoom = zoom; };
  const fit = () => Math.min(1, (wrap.clientWidth - 8) / W);
  const tools = h('div', { class: 'diagram-tools' },
    h('button', { type: 'button', 'aria-label': 'Zoom out', onclick: () => choose(zoom / 1.25) }, '−'),
    h('button', { type: 'button', 'aria-label': 'Zoom in', onclick: () => choose(zoom * 1.25) }, '+'),
    h('button', { type: 'button', 'aria-label': 'Fit to width', onclick: () => choose(fit()) }, 'fit'));
  const wrap = h('div', { class: 'diagram' }, svg);
  if (chosenZoom) setZoom(chosenZoom);
  else {
    // On a narrow screen start fitted (down to a readable size), once the box has a width.
    requestAnimationFrame(() => {
      if (wrap.isConnected && wrap.clientWidth > 0 && wrap.clientWidth < W) setZoom(Math.max(0.45, fit()));
    });
  }
  return h('div', { class: 'diagram-box' }, tools, wrap);
}

export function redrawInto(el, def, options) {
  fill(el, diagram(def, options));
}
