// signalstack paper watch: polls api/status (each journal's `paper status --json`) and, when a journal's counts
// move, api/activity (its equity against buy-and-hold, recent orders and fills, rejected bars, outages).
// Every value taken from a status carries data-key (its path in the status), data-format and data-value, so
// what the page shows can be checked against `paper status --json`. Nothing is fetched from outside.
"use strict";

const REFRESH_MS = Number(document.body.dataset.refreshMs) || 1000;
const activities = new Map(); // journal index -> {moved, doc}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                                 "'": "&#39;"})[c]);
}

function grouped(fixed) {
  const [whole, part] = fixed.split(".");
  const withCommas = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return part === undefined ? withCommas : `${withCommas}.${part}`;
}

const FORMATS = {
  money: (v) => (v < 0 ? "-" : "") + grouped(Math.abs(v).toFixed(2)),
  pnl: (v) => (v < 0 ? "-" : v > 0 ? "+" : "") + grouped(Math.abs(v).toFixed(2)),
  p4: (v) => v.toFixed(4),
  pct: (v) => (100 * v).toFixed(2) + "%",
  int: (v) => String(v),
  num: (v) => String(v),
  text: (v) => String(v),
};

// A value of the status at `path` (dotted), shown in `format`; "-" (with no data-key) where it is null.
function shown(status, path, format, classes = "") {
  const value = path.split(".").reduce((doc, key) => (doc == null ? undefined : doc[key]), status);
  if (value === null || value === undefined) {
    return `<span class="none">-</span>`;
  }
  const sign = format === "pnl" || format === "pct" ? (value < 0 ? " neg" : value > 0 ? " pos" : "") : "";
  return `<span class="${classes}${sign}" data-key="${escape(path)}" data-format="${format}" ` +
    `data-value="${escape(typeof value === "object" ? JSON.stringify(value) : value)}">` +
    `${escape(FORMATS[format](value))}</span>`;
}

function table(name, header, rows, empty) {
  if (!rows.length) {
    return `<p class="none" data-table="${name}">${escape(empty)}</p>`;
  }
  const head = header.map((h, i) => `<th class="${i === 0 ? "label" : ""}">${escape(h)}</th>`).join("");
  const body = rows.map((row) => "<tr>" + row.map((cell, i) => `<td class="${i === 0 ? "label" : ""}">${cell}</td>`)
    .join("") + "</tr>").join("");
  return `<table data-table="${name}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function card(label, html) {
  return `<div class="card"><div class="label">${escape(label)}</div><div class="value">${html}</div></div>`;
}

// The run's state: the status's own `state` where it has one, else what the journal's stop events say.
function state(s) {
  if (s.state) {
    const why = s.state === "stopped" && s.stopped ? `: ${shown(s, "stopped.reason", "text")}` : "";
    return `<span class="state ${escape(s.state)}">${shown(s, "state", "text")}${why}</span>`;
  }
  if (s.stopped) {
    return `<span class="state stopped">stopped: ${shown(s, "stopped.reason", "text")}</span>`;
  }
  if (s.stop_requested) {
    return `<span class="state stopping">stopping (stop requested)</span>`;
  }
  return `<span class="state unknown">no stop journaled: running, or crashed</span>`;
}

function heartbeat(s) {
  if (s.heartbeat == null) {
    return "";
  }
  const at = typeof s.heartbeat === "number" ? s.heartbeat * 1000 : Date.parse(s.heartbeat);
  const age = Number.isFinite(at) ? ` (${Math.max(0, Math.round((Date.now() - at) / 1000))} s ago)` : "";
  return ` heartbeat ${shown(s, "heartbeat", "text")}${age}` + (s.pid != null ? `, pid ${shown(s, "pid", "int")}` : "");
}

// A position's figure: in the account's entry (accounts.S.NAME), or in the position's own (positions.S.NAME).
function positionFigure(s, symbol, name, format) {
  if (s.accounts[symbol] && name in s.accounts[symbol]) {
    return shown(s, `accounts.${symbol}.${name}`, format);
  }
  const position = s.positions[symbol];
  if (position !== null && typeof position === "object" && name in position) {
    return shown(s, `positions.${symbol}.${name}`, format);
  }
  return `<span class="none">-</span>`;
}

function positions(s) {
  const rows = Object.keys(s.accounts).map((symbol) => {
    const size = typeof s.positions[symbol] === "object" ? positionFigure(s, symbol, "size", "num")
      : shown(s, `positions.${symbol}`, "num");
    const signal = s.last_signal[symbol];
    return [escape(symbol), size, positionFigure(s, symbol, "entry_price", "money"),
            positionFigure(s, symbol, "unrealized_pnl", "pnl"), positionFigure(s, symbol, "return_since_start", "pct"),
            shown(s, `accounts.${symbol}.cash`, "money"), shown(s, `accounts.${symbol}.equity`, "money"),
            shown(s, `last_bar.${symbol}`, "text"),
            signal ? `${shown(s, `last_signal.${symbol}.p_up`, "p4")} by ${shown(s, `last_signal.${symbol}.model`, "text")}` +
              ` v${shown(s, `last_signal.${symbol}.version`, "int")} on ${shown(s, `last_signal.${symbol}.time`, "text")}`
              : `<span class="none">none yet</span>`];
  });
  return table("positions", ["symbol", "position", "entry price", "unrealised P&L", "return since start", "cash", "equity",
                "last bar", "last signal (p_up)"], rows, "no account yet");
}

function chart(curve, outages) {
  if (!curve || curve.time.length < 2) {
    return `<p class="none">the equity curve starts with the second live bar</p>`;
  }
  const W = 1000, H = 230, L = 70, R = 10, T = 10, B = 24;
  const times = curve.time.map((t) => Date.parse(t.endsWith("Z") || /[+-]\d\d:\d\d$/.test(t) ? t : t + "Z"));
  const values = curve.strategy.concat(curve.buy_and_hold);
  const [t0, t1] = [times[0], times[times.length - 1]];
  let [v0, v1] = [Math.min(...values), Math.max(...values)];
  if (v1 - v0 < 1e-9) { v0 -= 1; v1 += 1; }
  const x = (t) => L + (W - L - R) * (t - t0) / Math.max(t1 - t0, 1);
  const y = (v) => T + (H - T - B) * (1 - (v - v0) / (v1 - v0));
  const line = (series, cls) => `<polyline class="${cls}" points="` +
    series.map((v, i) => `${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`).join(" ") + `"/>`;
  const grid = [0, 0.5, 1].map((f) => {
    const v = v0 + f * (v1 - v0);
    return `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/>` +
      `<text class="axis" x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${escape(FORMATS.money(v))}</text>`;
  }).join("");
  const shade = (outages || []).map((o) => {
    const a = x(Math.max(t0, Date.parse(o.first + "Z"))), b = x(Math.min(t1, Date.parse(o.last + "Z")));
    return `<rect class="outage" x="${Math.min(a, b) - 2}" y="${T}" width="${Math.abs(b - a) + 4}" height="${H - T - B}">` +
      `<title>no signal: ${escape(o.symbol)} ${escape(o.first)} .. ${escape(o.last)}</title></rect>`;
  }).join("");
  const ends = `<text class="axis" x="${L}" y="${H - 6}">${escape(curve.time[0].slice(0, 16))}</text>` +
    `<text class="axis" x="${W - R}" y="${H - 6}" text-anchor="end">${escape(curve.time[curve.time.length - 1].slice(0, 16))}</text>`;
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" ` +
    `aria-label="equity against buy and hold">${grid}${shade}${line(curve.buy_and_hold, "buy_and_hold")}` +
    `${line(curve.strategy, "strategy")}${ends}</svg>` +
    `<div class="legend"><span><i class="strategy"></i>the run's equity</span>` +
    `<span><i class="buy_and_hold"></i>buy &amp; hold</span>` +
    `<span><i class="outage"></i>no signal (stale-signal gap)</span></div>`;
}

function money(v) { return v == null ? "-" : escape(FORMATS.money(v)); }

function activityTables(doc) {
  if (!doc) {
    return `<p class="none">loading activity...</p>`;
  }
  if (doc.error) {
    return `<p class="bad">${escape(doc.error)}</p>`;
  }
  const orders = doc.orders.map((o) => [escape(o.symbol), escape(o.time), escape(o.side), escape(o.size),
                                        escape(o.reason), escape(o.state) + (o.price != null ? ` at ${money(o.price)}` : "")]);
  const fills = doc.fills.map((f) => [escape(f.symbol), escape(f.time), escape(f.side), escape(f.size),
                                      money(f.price), money(f.commission)]);
  const rejected = doc.rejected.map((r) => [escape(r.symbol), escape(r.time ?? "(no time)"), escape(r.row),
                                            `<span class="text">${escape(r.reason)}</span>`]);
  const outages = doc.outages.slice(-20).reverse().map((o) => [escape(o.symbol), escape(o.first), escape(o.last),
    escape(o.bars), escape(Object.entries(o.why).map(([k, n]) => `${k} ${n}`).join(", "))]);
  return `<div class="columns"><div><h3>Recent orders</h3>` +
    table("orders", ["symbol", "decided on", "side", "size", "why", "outcome"], orders, "no order yet") +
    `</div><div><h3>Recent fills</h3>` +
    table("fills", ["symbol", "bar", "side", "size", "price", "commission"], fills, "no fill yet") +
    `</div><div><h3>Bars without a signal (outages)</h3>` +
    table("outages", ["symbol", "from", "to", "bars", "why"], outages, "none: every live bar had its signal") +
    `</div><div><h3>Rejected bars</h3>` +
    table("rejected", ["symbol", "bar", "row", "reason"], rejected, "none") + `</div></div>`;
}

function run(entry, index) {
  if (!entry.status) {
    return `<section class="run" data-journal="${index}"><h2>${escape(entry.journal)}</h2>` +
      `<p class="bad">${escape(entry.error)}</p></section>`;
  }
  const s = entry.status;
  const cards = [card("equity", shown(s, "equity", "money")), card("cash", shown(s, "cash", "money")),
    card(`P&L on ${s.today ?? "-"}`, shown(s, "today_pnl", "pnl")),
    ...["bars", "signals", "orders", "fills", "rejected_bars", "stale_gaps"].map((k) =>
      card(k.replace("_", " "), shown(s, k, "int")))].join("");
  const opened = s.open_orders.map((o, i) => [shown(s, `open_orders.${i}.symbol`, "text"),
    shown(s, `open_orders.${i}.time`, "text"), shown(s, `open_orders.${i}.side`, "text"),
    shown(s, `open_orders.${i}.size`, "num"), shown(s, `open_orders.${i}.order_id`, "text")]);
  const risks = s.risk_events.map((r, i) => [shown(s, `risk_events.${i}.symbol`, "text"),
    shown(s, `risk_events.${i}.time`, "text"), shown(s, `risk_events.${i}.limit`, "text"),
    shown(s, `risk_events.${i}.action`, "text")]).slice(-RECENT_RISKS).reverse();
  const reasons = Object.keys(s.gap_reasons).map((why) => `${escape(why)} ${shown(s, `gap_reasons.${why}`, "int")}`);
  const changes = s.model_changes.map((c, i) => [shown(s, `model_changes.${i}.symbol`, "text"),
    shown(s, `model_changes.${i}.time`, "text"), `v${shown(s, `model_changes.${i}.from`, "int")} -> ` +
    `v${shown(s, `model_changes.${i}.to`, "int")}`]);
  const activity = activities.get(index);
  return `<section class="run" data-journal="${index}">` +
    `<h2>run ${shown(s, "run_id", "text")} ${state(s)}</h2>` +
    `<p class="meta">model ${shown(s, "model", "text")} v${shown(s, "version", "int")}` +
    (s.server ? ` from ${shown(s, "server", "text")}` : " in process") +
    `; journal ${escape(entry.journal)}${heartbeat(s)}</p>` +
    `<div class="cards">${cards}</div>` +
    `<h3>Equity against buy &amp; hold</h3>${chart(activity && activity.doc && activity.doc.equity,
                                                    activity && activity.doc && activity.doc.outages)}` +
    `<h3>Positions and last signals</h3>${positions(s)}` +
    `<h3>Open orders</h3>${table("open_orders", ["symbol", "decided on", "side", "size", "order id"], opened, "none")}` +
    `<div class="columns"><div><h3>Stale-signal gaps</h3><p>${shown(s, "stale_gaps", "int")} live bars without a ` +
    `signal${reasons.length ? ": " + reasons.join(", ") : ""}</p></div>` +
    `<div><h3>Risk events</h3>${table("risk_events", ["symbol", "bar", "limit", "action"], risks, "none")}</div></div>` +
    (changes.length ? `<h3>Model versions</h3>${table("model_changes", ["symbol", "from bar", "version"], changes, "")}` : "") +
    activityTables(activity && activity.doc) + `</section>`;
}

const RECENT_RISKS = 20;

// A journal's activity is asked for again when anything its status counts has moved.
function moved(s) {
  return s ? [s.bars, s.signals, s.orders, s.fills, s.rejected_bars, s.stale_gaps, s.risk_events.length,
              JSON.stringify(s.stopped)].join("|") : "";
}

async function refreshActivity(index, mark) {
  const answer = await fetch(`api/activity?journal=${index}`, {cache: "no-store"});
  activities.set(index, {moved: mark, doc: await answer.json()});
}

async function poll() {
  try {
    const answer = await fetch("api/status", {cache: "no-store"});
    if (!answer.ok) {
      throw new Error(`api/status: HTTP ${answer.status}`);
    }
    const doc = await answer.json();
    await Promise.all(doc.journals.map((entry, i) => {
      const mark = moved(entry.status);
      const known = activities.get(i);
      return entry.status && (!known || known.moved !== mark) ? refreshActivity(i, mark) : null;
    }));
    document.getElementById("runs").innerHTML = doc.journals.map(run).join("");
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
    document.getElementById("problem").textContent = "";
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (error) {
    document.getElementById("problem").textContent = `(${error.message})`;
  } finally {
    setTimeout(poll, REFRESH_MS);
  }
}

document.getElementById("refresh").textContent = String(REFRESH_MS / 1000);
poll();
