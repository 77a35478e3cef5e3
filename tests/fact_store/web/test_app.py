"""The console's own pages through Starlette's test client: HTML and JSON twins, budgets, escaping."""

from __future__ import annotations

import itertools
import os
import re

import pytest

pytest.importorskip("starlette")  # the web extra (the test extra includes it; CI has it)

from starlette.testclient import TestClient  # noqa: E402

import fact_store as fs  # noqa: E402
from fact_store.web import Settings, create_app  # noqa: E402

_n = itertools.count()
PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SCHEMA = [
    {":db/ident": ":person/name", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity",
     ":db/doc": "A person's name"},
    {":db/ident": ":person/friend", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/age", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/one", ":db/index": True},
]


@pytest.fixture()
def conn():
    c = fs.connect(f"mem:web-test-{os.getpid()}-{next(_n)}")
    c.transact(SCHEMA)
    c.transact([{":db/id": f"p{i}", ":person/name": f"p{i:03d}", ":person/age": i,
                 **({":person/friend": ["p0"]} if i else {})} for i in range(120)])
    c.transact([{":person/name": PAYLOAD, ":person/age": 999}])
    yield c
    c.close()


def client(conn, **settings):
    return TestClient(create_app(conn, Settings(**settings), tabs=[]), base_url="http://127.0.0.1:8765")


NAMES = "[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]"


def test_query_page_shows_counts_and_pages_through_results(conn):
    c = client(conn, page_size=50)
    r = c.get("/query", params={"q": NAMES, "page": 2})
    assert r.status_code == 200
    assert 'id="count">121<' in r.text and 'id="page">2<' in r.text
    rows = re.findall(r"<tr><td>&#34;(p\d+)&#34;</td>", r.text)
    assert rows[0] == "p049" and len(rows) == 50  # the payload sorts first
    assert "page=3" in r.text and "page=1" in r.text  # next and previous links keep the query


def test_every_page_has_a_json_twin(conn):
    c = client(conn, page_size=10)
    by_suffix = c.get("/query.json", params={"q": NAMES}).json()
    by_accept = c.get("/query", params={"q": NAMES}, headers={"Accept": "application/json"}).json()
    assert by_suffix == {**by_accept, "ms": by_suffix["ms"]}
    assert by_suffix["count"] == 121 and by_suffix["columns"] == ["?n", "?a"]
    assert by_suffix["rows"][1] == ["p000", 0]
    for path in ("/schema", "/tx", "/entity/[:person/name \"p001\"]", "/pull"):
        assert c.get(path + ".json").headers["content-type"] == "application/json", path


def test_query_as_of_reads_the_past(conn):
    c = client(conn)
    t_before_payload = conn.db().basis_t - 1
    now = c.get("/query.json", params={"q": "[:find (count ?e) . :where [?e :person/age]]"}).json()
    then = c.get("/query.json", params={"q": "[:find (count ?e) . :where [?e :person/age]]",
                                        "as_of": t_before_payload}).json()
    assert (now["rows"], then["rows"]) == ([[121]], [[120]])
    hist = c.get("/query.json", params={"q": "[:find ?a ?added :where [?e :person/age ?a _ ?added] "
                                             "[(= ?a 999)]]", "history": "1"}).json()
    assert hist["rows"] == [[999, True]]


def test_a_query_error_names_the_place_with_a_caret(conn):
    c = client(conn)
    r = c.get("/query", params={"q": "[:find ?e\n :where [?e :person/nope]]"})
    assert r.status_code == 400
    assert "query/error" in r.text and "line 2" in r.text
    caret = re.search(r'<pre class="caret" id="caret">(.*?)</pre>', r.text, re.S).group(1)
    assert ":person/nope" in caret and "^" in caret
    bad = c.get("/query.json", params={"q": "[:find ?e :where [?e"}).json()
    assert bad["error"]["code"] == "edn/syntax" and bad["error"]["line"] == 1


def test_web_queries_cannot_exceed_the_row_budget(conn):
    c = client(conn, max_rows=100)
    r = c.get("/query.json", params={"q": NAMES})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "query/limit-exceeded"


def test_web_queries_cannot_exceed_the_deadline_even_with_their_own_timeout(conn):
    c = client(conn, query_timeout=1e-9)
    q = ("[:find (count ?a) :timeout 600000 :where [?e :person/age ?a] [?f :person/age ?b] "
         "[(< ?a ?b)]]")
    r = c.get("/query.json", params={"q": q})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "query/limit-exceeded"
    assert "time" in r.json()["error"]["message"] or "deadline" in r.json()["error"]["message"]


def test_values_are_escaped_on_every_page(conn):
    c = client(conn)
    eid = conn.db().entid((":person/name", PAYLOAD))
    pages = [c.get("/query", params={"q": "[:find ?n :where [_ :person/name ?n]]"}),
             c.get(f"/entity/{eid}"), c.get("/tx"),
             c.get("/pull", params={"eid": f"{eid}", "pattern": "[*]"}),
             c.get("/query", params={"q": f"[:find ?x :where [(ground \"{PAYLOAD.replace(chr(34), '')}\") ?x]"}),
             c.get("/entity/" + "<b>x</b>")]
    for r in pages:
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, r.url
        assert "<b>x</b>" not in r.text
    assert "&lt;script&gt;alert" in pages[1].text


def test_security_headers_on_every_response(conn):
    c = client(conn)
    for path in ("/query", "/schema", "/static/console.js", "/no-such-page"):
        h = c.get(path).headers
        csp = h["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert h["x-content-type-options"] == "nosniff"
    for r in (c.get("/query"), c.get("/schema")):
        assert "<script>" not in r.text and " style=" not in r.text  # nothing inline the CSP blocks


def test_a_token_is_checked_on_every_request(conn):
    c = client(conn, token="s3cret-token")
    assert c.get("/query").status_code == 401
    assert c.get("/static/console.css").status_code == 401
    assert c.get("/query", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/query", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    r = c.get("/query", params={"token": "s3cret-token"})
    assert r.status_code == 200 and "fs_token" in r.headers["set-cookie"]
    assert c.get("/schema").status_code == 200  # the cookie now carries it


def test_entity_page_links_refs_reverse_refs_and_history(conn):
    c = client(conn)
    p0 = conn.db().entid((":person/name", "p000"))
    p1 = conn.db().entid((":person/name", "p001"))
    conn.transact([[":db/add", p1, ":person/age", 42]])
    d = c.get(f"/entity/{p1}.json").json()
    assert {"attr": ":person/friend", "value": p0} .items() <= next(
        a for a in d["attributes"] if a["attr"] == ":person/friend").items()
    assert [h["value"] for h in d["history"] if h["attr"] == ":person/age"] == [1, 1, 42]
    assert f'href="/entity/{p0}"' in c.get(f"/entity/{p1}").text
    rev = c.get(f"/entity/{p0}.json").json()["reverse"]
    assert len(rev) == 119 and rev[0]["attr"] == ":person/friend"
    assert c.get("/entity/123456789").status_code == 404


def test_schema_page_counts_datoms(conn):
    attrs = {a["ident"]: a for a in client(conn).get("/schema.json").json()["attributes"]}
    assert attrs[":person/age"]["datoms"] == 121
    assert attrs[":person/name"]["unique"] == "identity" and attrs[":person/name"]["doc"]
    assert attrs[":person/friend"]["cardinality"] == "many"


def test_tx_log_pages_back_in_time(conn):
    c = client(conn)
    d = c.get("/tx.json", params={"count": 2}).json()
    assert [t["t"] for t in d["txs"]] == [conn.db().basis_t, conn.db().basis_t - 1]
    assert d["older"] == conn.db().basis_t - 2
    assert d["txs"][0]["datoms"][0]["attr"] in (":person/name", ":person/age")


def test_pull_console(conn):
    r = client(conn).get("/pull.json", params={"pattern": "[:person/name {:person/friend [:person/name]}]",
                                                "eid": '[:person/name "p002"]'}).json()
    assert r["result"] == {":person/name": "p002", ":person/friend": [{":person/name": "p000"}]}


def test_bad_parameters_are_400s_with_the_projects_error(conn):
    c = client(conn)
    r = c.get("/query.json", params={"q": NAMES, "as_of": "yesterday"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "web/bad-request"
    assert "as_of takes a t" in r.json()["error"]["message"]
    assert c.get("/query.json", params={"q": NAMES, "page": "x" * 10_000}).status_code == 400
    assert len(c.get("/query.json", params={"q": NAMES, "page": "x" * 10_000}).text) < 500


def test_without_a_token_only_loopback_host_names_are_served(conn):
    app = create_app(conn, Settings(), tabs=[])
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "localhost"):
        assert TestClient(app, base_url=f"http://{host}").get("/schema").status_code == 200, host
    rebound = TestClient(app, base_url="http://evil.example:8765")
    assert rebound.get("/schema").status_code == 403
    assert TestClient(create_app(conn, Settings(token="t"), tabs=[]), base_url="http://evil.example") \
        .get("/schema", headers={"Authorization": "Bearer t"}).status_code == 200


def test_entity_page_as_of_shows_the_past_values(conn):
    p1 = conn.db().entid((":person/name", "p001"))
    t = conn.db().basis_t
    conn.transact([[":db/add", p1, ":person/age", 42]])
    c = client(conn)
    ages = lambda d: [a["value"] for a in d["attributes"] if a["attr"] == ":person/age"]  # noqa: E731
    assert ages(c.get(f"/entity/{p1}.json").json()) == [42]
    assert ages(c.get(f"/entity/{p1}.json", params={"as_of": t}).json()) == [1]
    assert 'name="as_of" value="' + str(t) + '"' in c.get(f"/entity/{p1}", params={"as_of": t}).text
