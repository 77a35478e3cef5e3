// DataScript peer of the fact-store benchmark workload (benchmarks/workload.py).
//
// Written against DataScript's JS API (the npm package, pinned in package.json):
// attributes are strings ("person/name"), keyword values are strings ("male"),
// queries, rules and pull patterns are EDN strings that the JS API reads on
// every call and whose results it converts to JS arrays and objects; both are
// part of what a JS user pays, so both are inside the timed region.
//
//   node --expose-gc bench.js --size 20000 [--quick] [--memory]
//
// Builds the standard db, untimed, then serves its ops to the runner, one JSON
// command and one JSON answer per line (the protocol of benchmarks/serve.py:
// prepare, sample, check), so that the runner can alternate the systems
// repetition by repetition. --memory instead prints the heap growth of
// building the standard db (process.memoryUsage().heapUsed after gc, tx data
// built before and kept alive).
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

// ---- the op server (benchmarks/serve.py describes the protocol) -----------------------
function opTable(persons, jobs, empty, tx) {
  const standard = d.db_with(empty, tx);
  const ext = extMap(standard);
  const fp = fingerprint(standard);
  const eidOf = new Map();
  for (const dt of d.datoms(standard, ":aevt", "person/id")) eidOf.set(dt.v, dt.e);
  const db = standard;
  const ops = {};
  const read = (fn, check) => () => ({ kind: "read", fn, check });
  const txop = (fn, check, setup) => () => ({ kind: "tx", fn, check, setup });

  ops["gen"] = txop(() => generate(SIZE), () => fp);
  for (const [op, [text, inputs, kinds]] of Object.entries(QUERIES)) {
    ops[op] = read(() => d.q(text, db, ...inputs), (r) => queryChecksum(r, kinds, ext));
  }
  ops["pull-nested"] = () => {
    const eids = []; for (let i = 1; i <= Math.min(1000, SIZE); i++) eids.push(eidOf.get(i));
    return { kind: "read", fn: () => eids.map((e) => d.pull(db, PULL_NESTED, e)), check: pullLeaves };
  };
  ops["pull-many"] = () => {
    const eids = []; for (let i = 10; i <= Math.min(20000, SIZE); i += 10) eids.push(eidOf.get(i));
    return { kind: "read", fn: () => d.pull_many(db, PULL_MANY, eids), check: pullLeaves };
  };
  ops["avet-range"] = read(() => d.index_range(db, "person/salary", 20000, 29999),
                           (r) => setChecksum(r.map((dt) => [ext.get(dt.e), dt.v]), "vv"));
  ops["eavt-lookup"] = () => {
    const eids = []; for (let i = 5; i <= Math.min(20000, SIZE); i += 10) eids.push(eidOf.get(i));
    return { kind: "read", fn: () => eids.map((e) => d.datoms(db, ":eavt", e)),
             check: (r) => setChecksum(datomTuples(r.flat(), ext), "vvv") };
  };
  ops["job-cycle"] = txop(() => {
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
  }, (picks) => {
    let cs = 0;
    picks.forEach((id, k) => { cs = (cs + (k + 1) * id) % M; });
    return [picks.length, cs];
  });
  ops["init"] = () => {
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
    return { kind: "tx", fn: () => d.init_db(datoms, SCHEMA), check: fingerprint };
  };
  ops["add-all"] = txop(() => d.db_with(empty, tx), fingerprint);
  ops["add-entity"] = () => {
    const txs = persons.map((p) => {
      const m = { ":db/id": "p", "person/id": p.id, "person/name": p.name, "person/last-name": p.last,
                  "person/sex": p.sex, "person/age": p.age, "person/salary": p.salary };
      if (p.aliases.length) m["person/alias"] = p.aliases;
      return [m];
    });
    return { kind: "tx", fn: () => { let cur = empty; for (const t of txs) cur = d.db_with(cur, t); return cur; },
             check: fingerprint };
  };
  ops["add-1"] = () => {
    const attrs = ["person/name", "person/last-name", "person/sex", "person/age", "person/salary"];
    const vals = persons.map((p) => [p.id, [p.name, p.last, p.sex, p.age, p.salary]]);
    return { kind: "tx", check: fingerprint, fn: () => {
      const conn = d.conn_from_db(empty);
      for (const [id, vs] of vals) {
        const rep = d.transact(conn, [[":db/add", "p", "person/id", id]]);
        const e = d.resolve_tempid(rep.tempids, "p");
        for (let k = 0; k < 5; k++) d.transact(conn, [[":db/add", e, attrs[k], vs[k]]]);
      }
      return d.db(conn);
    } };
  };
  ops["retract-entity"] = () => {
    const eids = persons.map((p) => eidOf.get(p.id));
    return { kind: "tx", check: fingerprint, fn: () => {
      let cur = standard;
      for (const e of eids) cur = d.db_with(cur, [[":db/retractEntity", e]]);
      return cur;
    } };
  };
  return ops;
}

function serve(ops) {
  const current = new Map(), results = new Map();
  const sample = (key, op, batch) => {
    let res;
    let t0, c0, ms, cpu;
    if (op.kind === "tx") {
      const state = op.setup ? op.setup() : undefined;
      gc();
      c0 = process.cpuUsage(); t0 = performance.now();
      res = op.fn(state);
      ms = performance.now() - t0;
    } else {
      c0 = process.cpuUsage(); t0 = performance.now();
      for (let i = 0; i < batch; i++) res = op.fn();
      ms = (performance.now() - t0) / batch;
    }
    const c = process.cpuUsage(c0);
    cpu = (c.user + c.system) / 1000 / batch;
    results.set(key, res);
    const r = (x) => Math.round(x * 10000) / 10000;
    return { ms: r(ms), cpu_ms: r(cpu) };
  };
  const handle = (req) => {
    const key = req.system + " " + req.op;
    if (req.cmd === "prepare") {
      const op = ops[req.op]();
      let batch = 1;
      if (op.kind !== "tx") {  // a transaction op's warm-up is a sample the runner throws away
        let fastest = Infinity;
        for (let i = 0; i < (QUICK ? 1 : 3); i++) {  // the batch is chosen by CPU time, as serve.py does
          const c0 = process.cpuUsage();
          results.set(key, op.fn());
          const c = process.cpuUsage(c0);
          fastest = Math.min(fastest, (c.user + c.system) / 1000);
        }
        batch = QUICK ? 1 : ([1, 10, 100, 1000].find((b) => b * fastest >= 20) || 1000);
      }
      current.set(key, [op, batch]);
      return { batch };
    }
    if (req.cmd === "sample") {
      const [op, batch] = current.get(key);
      return sample(key, op, batch);
    }
    if (req.cmd === "check") {
      const [op] = current.get(key);
      current.delete(key);
      const [count, checksum] = op.check(results.get(key));
      results.delete(key);
      return { result_count: count, checksum, datascript: DS_VERSION, node: process.version };
    }
    throw new Error("unknown command " + req.cmd);
  };
  const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
  out({ ready: { [SYSTEM]: Object.keys(ops) }, datascript: DS_VERSION, node: process.version });
  const rl = require("readline").createInterface({ input: process.stdin, terminal: false });
  rl.on("line", (raw) => {
    const req = JSON.parse(raw);
    if (req.cmd === "quit") { rl.close(); return; }
    let resp;
    try { resp = handle(req); } catch (e) { console.error(e); resp = { error: String(e).slice(0, 500) }; }
    out(resp);
  });
}

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
  serve(opTable(persons, jobs, empty, tx));
}

main();
