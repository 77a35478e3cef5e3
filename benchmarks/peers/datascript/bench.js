// DataScript peer of the fact-store benchmark workload (shared/bench/WORKLOAD.md v1).
//
// Written against DataScript's JS API (the npm package, pinned in package.json):
// attributes are strings ("person/name"), keyword values are strings ("male"),
// queries, rules and pull patterns are EDN strings that the JS API reads on
// every call and whose results it converts to JS arrays and objects; both are
// part of what a JS user pays, so both are inside the timed region.
//
//   node --expose-gc bench.js --size 20000 [--quick] [--ops q1,q2] [--memory]
//
// Prints one JSON line per op (section 7), in the order of section 5: build
// the standard db, gen, the read ops, job-cycle, then the transaction ops.
// --memory instead prints the heap growth of building the standard db
// (process.memoryUsage().heapUsed after gc, tx data built before and kept alive).
"use strict";

const d = require("datascript");
const { performance } = require("perf_hooks");

const SYSTEM = "datascript-js";
const M = 2147483647;
const JOB_EXT = 1000000;
const FIRST = ["Ivan", "Petr", "Sergei", "Oleg", "Yuri", "Dmitry", "Fedor", "Denis"];
const LAST = ["Ivanov", "Petrov", "Sidorov", "Kovalev", "Kuznetsov", "Voronoi"];
const ALIASES = ["Ace", "Bolt", "Cobra", "Dash", "Echo", "Falcon", "Ghost", "Hawk", "Iris", "Jade", "Kite"];
const REFS = new Set(["person/follows", "job/dep"]);
const SCHEMA = {
  "person/id": { ":db/unique": ":db.unique/identity" },
  "person/name": { ":db/index": true },
  "person/age": { ":db/index": true },
  "person/salary": { ":db/index": true },
  "person/alias": { ":db/cardinality": ":db.cardinality/many" },
  "person/follows": { ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many" },
  "job/id": { ":db/unique": ":db.unique/identity" },
  "job/status": { ":db/index": true },
  "job/dep": { ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many" },
};

// ---- arguments -----------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const SIZE = parseInt(opt("--size", "20000"), 10);
const QUICK = argv.includes("--quick");
const OPS = opt("--ops", "") ? new Set(opt("--ops", "").split(",")) : null;
const want = (op) => OPS === null || OPS.has(op);
const gc = typeof global.gc === "function" ? global.gc : () => {};

// ---- generator (section 2) -----------------------------------------------------
function generate(n) {
  const MASK = (1n << 64n) - 1n;
  let state = 42n;
  const below = (k) => {
    state = (state + 0x9E3779B97F4A7C15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK;
    z = z ^ (z >> 31n);
    return Number(z % BigInt(k));
  };
  const persons = [];
  for (let i = 1; i <= n; i++) {
    const name = FIRST[below(8)], last = LAST[below(6)];
    const sex = below(2) === 0 ? "male" : "female";
    const age = below(100), salary = below(100000), k = below(3), a = below(11);
    const aliases = [];
    for (let t = 0; t < k; t++) aliases.push(ALIASES[(a + t) % 11]);
    const follows = [3 * i - 1, 3 * i, 3 * i + 1].filter((c) => c <= n);
    persons.push({ id: i, name, last, sex, age, salary, aliases, follows });
  }
  const jobs = [];
  for (let j = 1; j <= Math.floor(n / 10); j++) {
    const r = below(100);
    const status = r < 60 ? "done" : r < 70 ? "running" : r < 75 ? "failed" : "pending";
    const priority = below(10), k = below(4);
    const deps = new Set();
    if (j > 1) {
      const w = Math.min(j - 1, 50);
      for (let t = 0; t < k; t++) deps.add(j - 1 - below(w));
    }
    jobs.push({ id: j, status, priority, deps: [...deps].sort((x, y) => x - y) });
  }
  return [persons, jobs];
}

// ---- checksums (section 4) -----------------------------------------------------
function hstr(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 131 + s.charCodeAt(i)) % M; // ASCII only
  return h;
}
// kinds per column: e = entity (ext), v = value (integer or string), i = integer, f = float
function hv(x, kind) {
  if (kind === "f") return Math.floor(x * 1000 + 0.5) % M;
  if (typeof x === "number") return x % M;
  if (typeof x === "boolean") return x ? 1 : 0;
  return hstr(x);
}
function th(values, kinds) {
  let h = 0;
  for (let i = 0; i < values.length; i++) h = (h * 1000003 + hv(values[i], kinds[i])) % M;
  return h;
}
function setChecksum(tuples, kinds) {
  let s = 0;
  for (const t of tuples) s = (s + th(t, kinds)) % M;
  return [tuples.length, s];
}
function extMap(db) {
  const ext = new Map();
  for (const dt of d.datoms(db, ":aevt", "person/id")) ext.set(dt.e, dt.v);
  for (const dt of d.datoms(db, ":aevt", "job/id")) ext.set(dt.e, JOB_EXT + dt.v);
  return ext;
}
function datomTuples(datoms, ext) {
  return datoms.map((dt) => [ext.get(dt.e), dt.a, REFS.has(dt.a) ? ext.get(dt.v) : dt.v]);
}
function fingerprint(db) {
  return setChecksum(datomTuples(d.datoms(db, ":eavt"), extMap(db)), "evv");
}
function queryChecksum(rows, kinds, ext) {
  return setChecksum(rows.map((r) => r.map((x, i) => (kinds[i] === "e" ? ext.get(x) : x))), kinds.replace(/e/g, "v"));
}
function pullLeaves(maps) {
  const leaves = [];
  const walk = (m) => {
    for (const k of Object.keys(m)) {
      if (k === ":db/id") continue;
      const v = m[k];
      for (const x of Array.isArray(v) ? v : [v]) {
        if (x !== null && typeof x === "object") walk(x);
        else leaves.push([k, x]);
      }
    }
  };
  maps.forEach(walk);
  return setChecksum(leaves, "vv");
}

// ---- timing protocol (section 5) --------------------------------------------------
function stats(samples, batch, attempts) {
  const s = [...samples].sort((x, y) => x - y);
  const r = (x) => Math.round(x * 1000) / 1000;
  return { median_ms: r(s[(s.length - 1) >> 1]), min_ms: r(s[0]), max_ms: r(s[s.length - 1]),
           reps: s.length, batch, attempts };
}
function measure(fn, kind, setup) {
  let result;
  let one, batch = 1, reps;
  if (kind === "tx") {
    const warm = QUICK ? 0 : 1;
    reps = QUICK ? 1 : 5;
    one = () => {
      const arg = setup ? setup() : undefined;
      gc();
      const t0 = performance.now();
      result = fn(arg);
      return performance.now() - t0;
    };
    for (let i = 0; i < warm; i++) one();
  } else {
    const warm = QUICK ? 1 : 3;
    reps = QUICK ? 1 : 11;
    let fastest = Infinity;
    for (let i = 0; i < warm; i++) {
      const t0 = performance.now();
      result = fn();
      fastest = Math.min(fastest, performance.now() - t0);
    }
    batch = QUICK ? 1 : ([1, 10, 100, 1000].find((b) => b * fastest >= 20) || 1000);
    one = () => {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) result = fn();
      return (performance.now() - t0) / batch;
    };
  }
  let best = null;
  for (let attempt = 1; attempt <= (QUICK ? 1 : 3); attempt++) {
    const samples = [];
    for (let i = 0; i < reps; i++) samples.push(one());
    const spread = Math.max(...samples) / Math.max(Math.min(...samples), 1e-9);
    if (best === null || spread < best.spread) best = { samples, spread, attempt };
    if (spread <= 1.3) break;
  }
  return [stats(best.samples, batch, best.attempt), result];
}
function emit(op, timing, count, checksum, extra) {
  const row = { system: SYSTEM, op, size: SIZE, ...timing, result_count: count, checksum,
                datascript: DS_VERSION, node: process.version, ...(extra || {}) };
  console.log(JSON.stringify(row));
}
const DS_VERSION = (() => {
  try { return require("datascript/package.json").version; } catch (e) { return "?"; }
})();

// ---- transaction data in DataScript's native (JS) form ------------------------------
function addAllTx(persons, jobs) {
  const tx = [];
  for (const p of persons) {
    const m = { ":db/id": "p" + p.id, "person/id": p.id, "person/name": p.name, "person/last-name": p.last,
                "person/sex": p.sex, "person/age": p.age, "person/salary": p.salary };
    if (p.aliases.length) m["person/alias"] = p.aliases;
    if (p.follows.length) m["person/follows"] = p.follows.map((c) => "p" + c);
    tx.push(m);
  }
  for (const j of jobs) {
    const m = { ":db/id": "j" + j.id, "job/id": j.id, "job/status": j.status, "job/priority": j.priority };
    if (j.deps.length) m["job/dep"] = j.deps.map((x) => "j" + x);
    tx.push(m);
  }
  return tx;
}

// ---- read ops --------------------------------------------------------------------
const RULES = '[[(reach ?x ?y) [?x "person/follows" ?y]] [(reach ?x ?y) [?x "person/follows" ?t] (reach ?t ?y)]]';
const JOB_READY = '[:find ?j ?id ?p :where [?j "job/status" "pending"] [?j "job/id" ?id] [?j "job/priority" ?p] ' +
  '(not-join [?j] [?j "job/dep" ?d] [?d "job/status" ?s] [(not= ?s "done")])]';
const QUERIES = {
  "q1": ['[:find ?e :where [?e "person/name" "Ivan"]]', [], "e"],
  "q2": ['[:find ?e ?a :where [?e "person/name" "Ivan"] [?e "person/age" ?a]]', [], "ev"],
  "q2-switch": ['[:find ?e ?a :where [?e "person/age" ?a] [?e "person/name" "Ivan"]]', [], "ev"],
  "q3": ['[:find ?e ?a :where [?e "person/name" "Ivan"] [?e "person/age" ?a] [?e "person/sex" "male"]]', [], "ev"],
  "q4": ['[:find ?e ?l ?a :where [?e "person/name" "Ivan"] [?e "person/last-name" ?l] [?e "person/age" ?a] ' +
         '[?e "person/sex" "male"]]', [], "evv"],
  "q5-ref": ['[:find ?e ?f ?a :where [?e "person/name" "Ivan"] [?e "person/follows" ?f] ' +
             '[?f "person/last-name" "Petrov"] [?f "person/age" ?a]]', [], "eev"],
  "qpred1": ['[:find ?e ?s :where [?e "person/salary" ?s] [(> ?s 50000)]]', [], "ev"],
  "qpred2": ['[:find ?e ?s :in $ ?min_s :where [?e "person/salary" ?s] [(> ?s ?min_s)]]', [50000], "ev"],
  "rule-reach": ['[:find ?y :in $ % ?rid :where [?r "person/id" ?rid] (reach ?r ?y)]', [RULES, 2], "e"],
  "agg": ['[:find ?n ?s (count ?e) (sum ?sal) (avg ?a) :where [?e "person/name" ?n] [?e "person/sex" ?s] ' +
          '[?e "person/salary" ?sal] [?e "person/age" ?a]]', [], "vvvif"],
  "job-ready": [JOB_READY, [], "evv"],
};
const PULL_NESTED = '["person/name" "person/last-name" "person/age" "person/alias" {"person/follows" ["person/name" "person/age"]}]';
const PULL_MANY = '["person/id" "person/name" "person/last-name" "person/sex" "person/age" "person/salary" "person/alias"]';

function main() {
  const [persons, jobs] = generate(SIZE);
  const empty = d.empty_db(SCHEMA);
  const tx = addAllTx(persons, jobs);

  if (argv.includes("--memory")) {
    gc(); gc();
    const h0 = process.memoryUsage().heapUsed;
    let db = d.db_with(empty, tx);
    gc(); gc();
    const h1 = process.memoryUsage().heapUsed;
    const n = d.datoms(db, ":eavt").length;
    console.log(JSON.stringify({ system: SYSTEM, op: "memory", size: SIZE, datoms: n, bytes: h1 - h0,
                                 bytes_per_datom: Math.round((h1 - h0) / n * 10) / 10, tx_entities: tx.length,
                                 datascript: DS_VERSION, node: process.version }));
    return;
  }

  const standard = d.db_with(empty, tx);
  const ext = extMap(standard);
  const fp = fingerprint(standard);
  const eidOf = new Map();
  for (const dt of d.datoms(standard, ":aevt", "person/id")) eidOf.set(dt.v, dt.e);

  if (want("gen")) {
    const [timing] = measure(() => generate(SIZE), "tx", () => undefined);
    emit("gen", timing, ...fp);
  }

  const db = standard;
  const reads = {};
  for (const [op, [text, inputs, kinds]] of Object.entries(QUERIES)) {
    reads[op] = [() => d.q(text, db, ...inputs), (r) => queryChecksum(r, kinds, ext)];
  }
  const nestedEids = []; for (let i = 1; i <= Math.min(1000, SIZE); i++) nestedEids.push(eidOf.get(i));
  reads["pull-nested"] = [() => nestedEids.map((e) => d.pull(db, PULL_NESTED, e)), pullLeaves];
  const manyEids = []; for (let i = 10; i <= Math.min(20000, SIZE); i += 10) manyEids.push(eidOf.get(i));
  reads["pull-many"] = [() => d.pull_many(db, PULL_MANY, manyEids), pullLeaves];
  reads["avet-range"] = [() => d.index_range(db, "person/salary", 20000, 29999),
                         (r) => setChecksum(r.map((dt) => [ext.get(dt.e), dt.v]), "vv")];
  const lookupEids = []; for (let i = 5; i <= Math.min(20000, SIZE); i += 10) lookupEids.push(eidOf.get(i));
  reads["eavt-lookup"] = [() => lookupEids.map((e) => d.datoms(db, ":eavt", e)),
                          (r) => setChecksum(datomTuples(r.flat(), ext), "vvv")];
  const readOrder = ["q1", "q2", "q2-switch", "q3", "q4", "q5-ref", "qpred1", "qpred2", "rule-reach", "agg",
                     "job-ready", "pull-nested", "pull-many", "avet-range", "eavt-lookup"];
  for (const op of readOrder) {
    if (!want(op)) continue;
    const [fn, check] = reads[op];
    const [timing, result] = measure(fn, "read");
    emit(op, timing, ...check(result));
  }

  if (want("job-cycle")) {
    const cycle = () => {
      let cur = standard;
      const picks = [];
      for (let k = 0; k < 50; k++) {
        const rows = d.q(JOB_READY, cur);
        if (rows.length === 0) break;
        let best = rows[0];
        for (const r of rows) if (r[2] > best[2] || (r[2] === best[2] && r[1] < best[1])) best = r;
        const j = best[0];
        cur = d.db_with(cur, [[":db/cas", j, "job/status", "pending", "running"]]);
        cur = d.db_with(cur, [[":db/add", j, "job/status", "done"]]);
        picks.push(best[1]);
      }
      return picks;
    };
    const [timing, picks] = measure(cycle, "tx", () => undefined);
    let cs = 0;
    picks.forEach((id, k) => { cs = (cs + (k + 1) * id) % M; });
    emit("job-cycle", timing, picks.length, cs);
  }

  if (want("init")) {
    const n = persons.length;
    const datoms = [];
    for (const p of persons) {
      const e = p.id;
      datoms.push([e, "person/id", p.id], [e, "person/name", p.name],
                  [e, "person/last-name", p.last], [e, "person/sex", p.sex],
                  [e, "person/age", p.age], [e, "person/salary", p.salary]);
      for (const a of p.aliases) datoms.push([e, "person/alias", a]);
      for (const c of p.follows) datoms.push([e, "person/follows", c]);
    }
    for (const j of jobs) {
      const e = n + j.id;
      datoms.push([e, "job/id", j.id], [e, "job/status", j.status],
                  [e, "job/priority", j.priority]);
      for (const x of j.deps) datoms.push([e, "job/dep", n + x]);
    }
    const [timing, res] = measure(() => d.init_db(datoms, SCHEMA), "tx", () => undefined);
    emit("init", timing, ...fingerprint(res));
  }
  if (want("add-all")) {
    const [timing, res] = measure(() => d.db_with(empty, tx), "tx", () => undefined);
    emit("add-all", timing, ...fingerprint(res));
  }
  if (want("add-entity")) {
    const txs = persons.map((p) => {
      const m = { ":db/id": "p", "person/id": p.id, "person/name": p.name, "person/last-name": p.last,
                  "person/sex": p.sex, "person/age": p.age, "person/salary": p.salary };
      if (p.aliases.length) m["person/alias"] = p.aliases;
      return [m];
    });
    const [timing, res] = measure(() => { let cur = empty; for (const t of txs) cur = d.db_with(cur, t); return cur; },
                                  "tx", () => undefined);
    emit("add-entity", timing, ...fingerprint(res));
  }
  if (want("add-1")) {
    const attrs = ["person/name", "person/last-name", "person/sex", "person/age", "person/salary"];
    const vals = persons.map((p) => [p.id, [p.name, p.last, p.sex, p.age, p.salary]]);
    const add1 = () => {
      const conn = d.conn_from_db(empty);
      for (const [id, vs] of vals) {
        const rep = d.transact(conn, [[":db/add", "p", "person/id", id]]);
        const e = d.resolve_tempid(rep.tempids, "p");
        for (let k = 0; k < 5; k++) d.transact(conn, [[":db/add", e, attrs[k], vs[k]]]);
      }
      return d.db(conn);
    };
    const [timing, res] = measure(add1, "tx", () => undefined);
    emit("add-1", timing, ...fingerprint(res));
  }
  if (want("retract-entity")) {
    const eids = persons.map((p) => eidOf.get(p.id));
    const retract = () => { let cur = standard; for (const e of eids) cur = d.db_with(cur, [[":db/retractEntity", e]]); return cur; };
    const [timing, res] = measure(retract, "tx", () => undefined);
    emit("retract-entity", timing, ...fingerprint(res));
  }
}

main();
