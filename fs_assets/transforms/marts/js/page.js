// The dashboard page's filters: sums a page's cubes into each chart's rows under the
// filters and the month range, and swaps the chart's data set (see page_data.py).
// PAGE (cubes, bindings, customer list) and the Vega views are set by the page.
(function () {
  // Cubes stay column arrays (a page at a million customers holds millions of rows):
  // `cell` indexes the cell table (sent as runs: value, count), every other dimension its
  // dictionary; amounts come as whole cents (`scale`), summed exactly and divided last.
  function unrun(runs) {
    let n = 0;
    for (let i = 1; i < runs.length; i += 2) n += runs[i];
    const out = new Int32Array(n);
    for (let i = 0, k = 0; i < runs.length; i += 2) out.fill(runs[i], k, k += runs[i + 1]);
    return out;
  }
  const columns = c => {
    const cols = {};
    c.columns.forEach((col, j) => { cols[col] = col === 'cell' ? unrun(c.data[j]) : c.data[j]; });
    const n = c.columns.length ? cols[c.columns[c.columns.length - 1]].length : 0;
    return {n: n, cols: cols, dicts: c.dicts, scale: c.scale || {}};
  };
  const cells = columns(PAGE.cells);
  const cubes = {};
  for (const [name, c] of Object.entries(PAGE.cubes)) cubes[name] = columns(c);
  const state = {filters: {}, first: null, last: null};
  let updates = 0;

  function inRange(month) {
    const m = month.slice(0, 7);
    return !((state.first && m < state.first) || (state.last && m > state.last));
  }

  // Row objects of a small cube with its own filter columns (the customer list).
  function rowsOf(cube) {
    const out = new Array(cube.n);
    for (let i = 0; i < cube.n; i++) {
      const r = {};
      for (const [col, codes] of Object.entries(cube.cols)) {
        const v = codes[i];
        r[col] = cube.dicts[col] && v !== null ? cube.dicts[col][v] : v;
      }
      out[i] = r;
    }
    return out;
  }

  function passes(r, skip) {
    for (const [col, v] of Object.entries(state.filters)) {
      if (col !== skip && col in r && r[col] !== v) return false;
    }
    return !('month' in r && r.month !== null && !inRange(r.month));
  }

  // Per cell: 1 when it passes every filter but `skip` (a chart's own click filter).
  function cellMask(skip) {
    const mask = new Uint8Array(cells.n).fill(1);
    for (const [col, v] of Object.entries(state.filters)) {
      if (col === skip || !(col in cells.cols)) continue;
      const want = cells.dicts[col].indexOf(v), codes = cells.cols[col];
      for (let i = 0; i < cells.n; i++) if (codes[i] !== want) mask[i] = 0;
    }
    return mask;
  }

  function sums(b) {
    const c = cubes[b.cube], mask = cellMask(b.click), cell = c.cols.cell;
    const fields = Object.keys(b.group);
    // Each field's codes and dictionary: the cube's own, or the cell table's through cell.
    const src = fields.map(f => {
      const col = b.group[f];
      return col in c.cols ? {codes: c.cols[col], dict: c.dicts[col], viaCell: false}
        : {codes: cells.cols[col], dict: cells.dicts[col], viaCell: true};
    });
    const month = c.cols.month;
    const monthOk = month ? c.dicts.month.map(inRange) : null;
    const where = b.where ? c.cols[b.where] : null;
    const measures = b.sums.map(s => c.cols[s]);
    const out = new Map();
    for (let i = 0; i < c.n; i++) {
      if (!mask[cell[i]]) continue;
      if (where && where[i] === null) continue;
      if (monthOk && month[i] !== null && !monthOk[month[i]]) continue;
      let key = 0;
      for (const s of src) {
        const code = s.viaCell ? s.codes[cell[i]] : s.codes[i];
        key = key * (s.dict.length + 1) + (code === null ? s.dict.length : code);
      }
      let acc = out.get(key);
      if (!acc) {
        acc = {};
        fields.forEach((f, j) => {
          const s = src[j], code = s.viaCell ? s.codes[cell[i]] : s.codes[i];
          acc[f] = code === null ? null : s.dict[code];
        });
        b.sums.forEach(s => { acc[s] = 0; });
        out.set(key, acc);
      }
      for (let j = 0; j < measures.length; j++) acc[b.sums[j]] += measures[j][i] || 0;
    }
    const rows = [...out.values()];
    for (const s of b.sums) {
      const scale = c.scale[s];
      if (scale) rows.forEach(r => { r[s] /= scale; });
    }
    return rows;
  }

  // A row's stage_order is the bit set of the stages its customers have an event of (bit
  // k - 1 for stage k): each stage counts the customers with its event, as the mart does.
  function funnel(b, rows) {
    const out = [];
    for (const a of b.archetypes) {
      let first = null, prev = null;
      b.stages.forEach((stage, i) => {
        let c = 0;
        for (const r of rows) if (r.archetype === a && (r.stage_order >> i) & 1) c += r.customers;
        const row = {archetype: a, stage_order: i + 1, stage: stage, customers: c};
        if (i > 0 && prev) row.conversion_from_previous = c / prev;
        if (first === null) first = c;
        if (first) row.conversion_from_reached = c / first;
        prev = c;
        out.push(row);
      });
    }
    return out;
  }

  // Ratios of the summed counts, then a ratio's difference across two values of a field
  // (page_data.ratio_rows: the uplift of the recommended card, in points).
  function ratio(b, rows) {
    for (const r of rows) {
      for (const [name, [num, den]] of Object.entries(b.ratios)) {
        r[name] = r[den] ? r[num] / r[den] : null;
      }
    }
    const d = b.difference;
    if (d) {
      const per = new Map();
      for (const r of rows) {
        if (!per.has(r[d.by])) per.set(r[d.by], new Map());
        per.get(r[d.by]).set(r[d.across], r[d.of]);
      }
      for (const r of rows) {
        const [x, y] = d.minus.map(v => per.get(r[d.by]).get(v));
        r[d.as] = x === undefined || x === null || y === undefined || y === null
          ? null : d.scale * (x - y);
      }
    }
    return rows;
  }

  function cumulative(rows) {
    rows.sort((x, y) => (x.month < y.month ? -1 : 1));
    let total = 0;
    return rows.map(r => { total += r.spend; return {...r, cumulative_spend: total}; });
  }

  const LEVELS = ['segment', 'category', 'mode'];
  // The Sankey's nodes and bands, as flow_charts.sankey_layout lays them out.
  function sankey(rows, width = 860, height = 460, nodeW = 14) {
    const totals = new Map(), links = new Map();
    const add = (m, k, v) => m.set(k, (m.get(k) || 0) + v);
    for (const r of rows) {
      LEVELS.forEach((key, lvl) => add(totals, JSON.stringify([lvl, r[key]]), r.spend));
      for (let lvl = 0; lvl < LEVELS.length - 1; lvl++) {
        add(links, JSON.stringify([lvl, r[LEVELS[lvl]], r[LEVELS[lvl + 1]], r.segment]), r.spend);
      }
    }
    const keys = [...totals.keys()].map(k => JSON.parse(k));
    const grand = keys.filter(k => k[0] === 0).reduce((s, k) => s + totals.get(JSON.stringify(k)), 0) || 1;
    const gap = 10;
    const most = Math.max(1, ...[0, 1, 2].map(i => keys.filter(k => k[0] === i).length));
    const scale = (height - gap * (most - 1)) / grand;
    const nodes = new Map();
    for (let lvl = 0; lvl < LEVELS.length; lvl++) {
      let y = 0;
      const x = lvl * (width - nodeW) / (LEVELS.length - 1);
      const members = keys.filter(k => k[0] === lvl)
        .sort((p, q) => totals.get(JSON.stringify(q)) - totals.get(JSON.stringify(p)));
      for (const k of members) {
        const t = totals.get(JSON.stringify(k));
        nodes.set(JSON.stringify(k), {name: k[1], level: LEVELS[lvl], x: x, y: y, h: t * scale, spend: t});
        y += t * scale + gap;
      }
    }
    const node = (lvl, name) => nodes.get(JSON.stringify([lvl, name]));
    const outOff = new Map(), inOff = new Map();
    const rank = s => { const i = PAGE.segments.indexOf(s); return i < 0 ? PAGE.segments.length : i; };
    const order = [...links.keys()].map(k => JSON.parse(k)).sort((p, q) =>
      p[0] - q[0] || node(p[0], p[1]).y - node(q[0], q[1]).y ||
      node(p[0] + 1, p[2]).y - node(q[0] + 1, q[2]).y || rank(p[3]) - rank(q[3]));
    const bands = [];
    for (const [lvl, src, dst, segment] of order) {
      const s = node(lvl, src), t = node(lvl + 1, dst);
      const v = links.get(JSON.stringify([lvl, src, dst, segment]));
      const h = v * scale, x0 = s.x + nodeW, x1 = t.x;
      const sk = JSON.stringify([lvl, src]), tk = JSON.stringify([lvl + 1, dst]);
      const y0 = s.y + (outOff.get(sk) || 0), y1 = t.y + (inOff.get(tk) || 0);
      outOff.set(sk, (outOff.get(sk) || 0) + h);
      inOff.set(tk, (inOff.get(tk) || 0) + h);
      const xm = (x0 + x1) / 2, f = v => v.toFixed(1);
      const path = `M${f(x0)},${f(y0)}C${f(xm)},${f(y0)} ${f(xm)},${f(y1)} ${f(x1)},${f(y1)}` +
        `L${f(x1)},${f(y1 + h)}C${f(xm)},${f(y1 + h)} ${f(xm)},${f(y0 + h)} ${f(x0)},${f(y0 + h)}Z`;
      bands.push({source: src, target: dst, segment: segment, spend: v, path: path});
    }
    return {nodes: [...nodes.values()], links: bands};
  }

  // The treemap's hierarchy, as flow_charts.treemap_rows builds it.
  function tree(rows) {
    const inner = new Map([['all', {id: 'all', parent: null, name: 'All spend', total: 0}]]);
    const leaves = [];
    for (const r of rows) {
      const seg = 's|' + r.segment, cat = seg + '|' + r.category;
      for (const [id, parent, name] of [[seg, 'all', r.segment], [cat, seg, r.category]]) {
        if (!inner.has(id)) inner.set(id, {id: id, parent: parent, name: name, total: 0});
      }
      for (const id of ['all', seg, cat]) inner.get(id).total += r.spend;
      leaves.push({id: cat + '|' + r.mode, parent: cat, name: r.mode, category: r.category,
        segment: r.segment, spend: r.spend, total: r.spend});
    }
    return [...inner.values(), ...leaves];
  }

  function replaceData(view, name, rows) {
    view.change(name, view.changeset().remove(() => true).insert(rows));
  }

  // The rows a chart shows under the current filters (what a test compares with the mart).
  function chartRows(b) {
    const rows = sums(b);
    if (b.kind === 'funnel') return funnel(b, rows);
    if (b.kind === 'cumulative') return cumulative(rows);
    if (b.kind === 'ratio') return ratio(b, rows);
    return rows;
  }

  const listed = rowsOf(cubes[PAGE.customers.cube] || {n: 0, cols: {}, dicts: {}});
  function customerList() {
    return listed.filter(r => passes(r, null));
  }

  function renderCustomers() {
    const el = document.getElementById('customer-list');
    if (!el) return;
    const rows = customerList();
    const shown = rows.slice(0, PAGE.customers.show);
    const cols = PAGE.customers.columns;
    const esc = v => String(v === null || v === undefined ? '' : v)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    el.querySelector('.count').textContent =
      `${rows.length.toLocaleString('en')} listed customers match; ${shown.length} shown.`;
    el.querySelector('tbody').innerHTML = shown.map(r =>
      '<tr>' + cols.map(c => `<td>${esc(r[c])}</td>`).join('') + '</tr>').join('');
  }

  function renderKpi() {
    const el = document.getElementById('selected-customers');
    const c = cubes.customers;
    if (!el || !c) return;
    const mask = cellMask(null), cell = c.cols.cell, n = c.cols.customers;
    let total = 0;
    for (let i = 0; i < c.n; i++) if (mask[cell[i]]) total += n[i];
    el.textContent = total.toLocaleString('en');
  }

  async function apply() {
    for (const [col, v] of Object.entries(state.filters)) {
      const sel = document.getElementById('filter-' + col);
      if (sel) sel.value = v;
    }
    document.querySelectorAll('.filters select[data-filter]').forEach(sel => {
      if (!(sel.dataset.filter in state.filters)) sel.value = '';
    });
    const runs = [];
    for (const c of PAGE.charts) {
      const view = window.vegaViews[c.id];
      if (!view || !c.binding) continue;
      const rows = chartRows(c.binding);
      if (c.binding.kind === 'sankey') {
        const s = sankey(rows);
        replaceData(view, 'flow', rows);
        replaceData(view, 'nodes', s.nodes);
        replaceData(view, 'links', s.links);
      } else if (c.binding.kind === 'treemap') {
        replaceData(view, 'flow', rows);
        replaceData(view, 'tree', tree(rows));
      } else {
        replaceData(view, c.data, rows);
      }
      runs.push(view.runAsync());
    }
    renderKpi();
    renderCustomers();
    await Promise.all(runs);
    updates += 1;
    document.body.dataset.updates = String(updates);
  }

  function setFilter(col, value) {
    if (value === '' || value === null || value === undefined) delete state.filters[col];
    else state.filters[col] = value;
    return apply();
  }

  function setMonths(first, last) {
    state.first = first || null;
    state.last = last || null;
    return apply();
  }

  function wire() {
    document.querySelectorAll('.filters select[data-filter]').forEach(sel => {
      sel.addEventListener('change', () => setFilter(sel.dataset.filter, sel.value));
    });
    const first = document.getElementById('month-first'), last = document.getElementById('month-last');
    const months = () => setMonths(first.value, last.value);
    if (first) first.addEventListener('change', months);
    if (last) last.addEventListener('change', months);
    const reset = document.getElementById('filter-reset');
    if (reset) reset.addEventListener('click', () => {
      state.filters = {};
      if (first) first.value = '';
      if (last) last.value = '';
      state.first = state.last = null;
      apply();
    });
    for (const c of PAGE.charts) {
      const view = window.vegaViews[c.id];
      const b = c.binding;
      if (!view || !b || !b.click) continue;
      const field = Object.keys(b.group).find(f => b.group[f] === b.click);
      // Clicking a bar filters the other charts; clicking it again clears the filter.
      view.addEventListener('click', (event, item) => {
        const d = item && item.datum;
        if (!d || d[field] === undefined) return;
        setFilter(b.click, state.filters[b.click] === d[field] ? '' : d[field]);
      });
    }
    renderKpi();
    renderCustomers();
  }

  window.dashboardFilters = {setFilter, setMonths, chartRows, customerList, state};
  window.addEventListener('charts-drawn', wire);
})();
