"""Benchmark 4, "reports": the report queries at scale (30,000 topics over a 31-province tree), through HTTP.

On the projected scale data (`benchmarks.scale.ensure_projected`): `lingti api` as a child process on that
database; one client sends each report request `requests` times in a row over a keep-alive connection (a fresh one
per query and repetition), with an auditor token of HQ (reports are open to every role within the caller's
subtree), and times each on the client.

Queries: the completion report of HQ (one row per province), of the biggest province (per city) and of its biggest
city (per branch), each as of now and as of a past date of the generated period (`as_of`); the red/blue board
(红蓝榜) of the last quarter with checkpoints: HQ's provinces, that province's branches, and every branch of HQ
(what an HQ user gets by default, level=branch: thousands of rows, about 1 MB of JSON).

The read models are measured vacuumed, as autovacuum keeps them (and as benchmarks/scale.py leaves the log): the
reports read them with index-only scans, which skip the heap only for pages the visibility map marks all-visible.
Before that VACUUM (ANALYZE), one batch of the HQ completion report shows the state a rebuild leaves them in
(`details["tables"]`: pages, all-visible pages and dead rows before and after).

Figures: p50 and p99 (nearest rank over the repetition's requests) of each query; median [min–max] over the
repetitions. Target: p99 ≤ 20 ms. Floor: the board of a quarter without checkpoints, through the same HTTP stack,
the same auth and the same route code (one index probe, an empty answer): what HTTP, uvicorn, FastAPI, the JWT and
a round trip to PostgreSQL cost before any data is read. `details["floors"]` also has the completion report of an
unregistered, empty unit (it shows what a report costs when its SQL does not depend on the subtree's size).

The time split (the "split" figures, explained in `details["split_note"]`), in this process against the same
database, for the HQ completion report and the HQ board of every branch: the query layer (the query class: SQL,
driver, rows to dicts), the SQL alone (the same statement as an asyncpg prepared statement), the response model
(pydantic validation and JSON encoding as FastAPI does them), and the JWT check (`actor_from_token`); the rest of a
request is HTTP, uvicorn and FastAPI (compare with the floor).

The client is a minimal HTTP/1.1 client over asyncio streams (one GET, a Content-Length body), to keep the client's
own CPU, which competes with the server's on a small machine, out of the figures as far as possible.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from benchmarks.options import Options
from benchmarks.stack import BenchStack
from benchmarks.stats import Figure, Result, Spread, percentile

TARGET_P99_MS = 20.0
WARMUP = 10  # requests of each query before the first repetition
BATCH_WARMUP = 2  # untimed requests on each batch's fresh connection
SPLIT_SAMPLES = 50
FLOOR = "board, empty quarter"  # the floor of every figure (see the module doc)


@dataclass(frozen=True)
class Query:
    name: str          # figure label
    path: str          # /v1/reports/...
    params: dict[str, str]
    floor: str         # the name of its floor query
    expect: Callable[[dict[str, Any]], int] | None = None  # rows in the answer (sanity check)


class HttpClient:
    """One keep-alive HTTP/1.1 connection; `get` returns (status, body). Only what uvicorn answers here is handled:
    a Content-Length body (no chunked encoding)."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> HttpClient:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass

    def request_bytes(self, target: str) -> bytes:
        return (f"GET {target} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{self._headers}"
                "Accept: application/json\r\n\r\n").encode()

    async def send(self, request: bytes) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
            elif name.strip().lower() == "transfer-encoding":
                raise RuntimeError("chunked responses are not supported by this client")
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    async def get(self, target: str) -> tuple[int, bytes]:
        return await self.send(self.request_bytes(target))


def target_of(query: Query) -> str:
    return f"{query.path}?{urlencode(query.params)}" if query.params else query.path


def queries(data: Any) -> list[Query]:
    """The measured queries on `data` (a ScaleData); their floor is `FLOOR` (see `floors`)."""
    hq = data.provinces[0].split("/")[0]
    # The biggest province and city of the tree (by units below them), so the figures are the worst case.
    province = max(data.provinces, key=lambda p: sum(b.startswith(p + "/") for b in data.branches))
    city = max((c for c in data.cities if c.startswith(province + "/")),
               key=lambda c: sum(b.startswith(c + "/") for b in data.branches))
    as_of = data.as_of[len(data.as_of) // 2]
    quarter = data.quarters[-1]
    rows = lambda answer: len(answer["rows"])  # noqa: E731
    completion = "/v1/reports/completion"
    board = "/v1/reports/board"
    return [
        Query("completion HQ by province", completion, {"org": hq}, FLOOR, rows),
        Query(f"completion HQ by province, as_of {as_of}", completion, {"org": hq, "as_of": as_of},
              FLOOR, rows),
        Query(f"completion {province} by city", completion, {"org": province}, FLOOR, rows),
        Query(f"completion {province} by city, as_of", completion, {"org": province, "as_of": as_of},
              FLOOR, rows),
        Query(f"completion {city} by branch", completion, {"org": city}, FLOOR, rows),
        Query(f"completion {city} by branch, as_of", completion, {"org": city, "as_of": as_of},
              FLOOR, rows),
        Query(f"board HQ {quarter} by province", board, {"org": hq, "quarter": quarter, "level": "province"},
              FLOOR, rows),
        Query(f"board {province} {quarter} by branch", board,
              {"org": province, "quarter": quarter, "level": "branch"}, FLOOR, rows),
        # What an HQ user gets by default (level=branch): every branch of the country ranked, thousands of rows.
        Query(f"board HQ {quarter} by branch (all)", board, {"org": hq, "quarter": quarter, "level": "branch"},
              FLOOR, rows),
    ]


def floors(data: Any) -> list[Query]:
    hq = data.provinces[0].split("/")[0]
    empty = f"{hq}/NOBODY"  # a well-formed path nobody registered or claimed
    return [
        Query(FLOOR, "/v1/reports/board", {"org": hq, "quarter": "2000Q1", "level": "province"}, ""),
        Query("completion, empty unit", "/v1/reports/completion", {"org": empty}, ""),
    ]


async def timed(client: HttpClient, query: Query, count: int) -> list[float]:
    """`count` requests one after another; each one's time in ms."""
    request = client.request_bytes(target_of(query))
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        status, body = await client.send(request)
        samples.append((time.perf_counter() - began) * 1000)
        if status != 200:
            raise RuntimeError(f"{query.name}: HTTP {status}: {body[:300]!r}")
    return samples


async def check(client: HttpClient, query: Query) -> dict[str, Any]:
    status, body = await client.get(target_of(query))
    if status != 200:
        raise RuntimeError(f"{query.name}: HTTP {status}: {body[:300]!r}")
    answer = json.loads(body)
    # The answer's digest without its `as_of` (now, when not given): equal digests, equal reports across runs.
    answer.pop("as_of", None)
    digest = hashlib.sha256(json.dumps(answer, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return {"bytes": len(body), "rows": query.expect(answer) if query.expect else None, "digest": digest}


async def _times(action: Callable[[], Any], samples: int, is_async: bool = True) -> list[float]:
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        result = action()
        if is_async:
            await result
        times.append((time.perf_counter() - began) * 1000)
    return times


READ_MODELS = ("topic_completion", "checkpoint_scores", "orgs")


async def table_state(url: str) -> dict[str, dict[str, Any]]:
    """Pages, all-visible pages (what index-only scans can skip the heap for) and dead rows of the read models."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, c.relpages, c.relallvisible, s.n_live_tup, s.n_dead_tup, s.last_autovacuum::text "
            "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = ANY($1::text[])",
            list(READ_MODELS))
    finally:
        await conn.close()
    return {r["relname"]: {k: v for k, v in dict(r).items() if k != "relname"} for r in rows}


async def vacuum(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for table in READ_MODELS:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


class Split:
    """Where a request's time goes, measured piece by piece in this process against the same database (see the module
    doc), for the HQ completion report and for the HQ board of every branch (the biggest answer)."""

    def __init__(self, stack: BenchStack, data: Any, token: str) -> None:
        self._stack, self._data, self._token = stack, data, token

    async def measure(self) -> dict[str, float]:
        """The median time of each piece over SPLIT_SAMPLES calls (after a warm-up)."""
        from datetime import UTC, datetime

        from sqlalchemy import event

        from api.auth import actor_from_token
        from api.schemas.control_reports import Board
        from api.schemas.reports import CompletionReport
        from projections.engine import create_read_engine
        from projections.queries import CompletionReports
        from projections.queries.board import CheckpointBoard

        hq = self._data.provinces[0].split("/")[0]
        now = datetime.now(UTC)
        pieces: dict[str, float] = {}
        engine = create_read_engine(self._data.url)
        statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute",
                     lambda _conn, _cursor, statement, parameters, *_: statements.append((statement, parameters)))
        try:
            cases = {  # label: (response model, the query, samples)
                "HQ completion": (CompletionReport, lambda: CompletionReports(engine).completion_report(
                    hq, now, "child", coverage=True), SPLIT_SAMPLES),
                "HQ board by branch": (Board, lambda: CheckpointBoard(engine).board(
                    hq, self._data.quarters[-1], "branch"), SPLIT_SAMPLES // 5),
            }
            for label, (model, call, samples) in cases.items():
                statements.clear()
                answer = await call()
                statement, parameters = statements[-1]  # the report's own statement, as the driver gets it
                await _times(call, WARMUP)
                pieces[f"{label}: query layer"] = statistics.median(await _times(call, samples))
                async with engine.connect() as conn:
                    prepared = await (await conn.get_raw_connection()).driver_connection.prepare(statement)
                    await _times(lambda: prepared.fetch(*parameters), WARMUP)
                    pieces[f"{label}: SQL alone (asyncpg)"] = statistics.median(
                        await _times(lambda: prepared.fetch(*parameters), samples))
                pieces[f"{label}: response model + JSON"] = statistics.median(
                    await _times(lambda: respond(model, answer), samples, is_async=False))
        finally:
            await engine.dispose()
        secret = self._stack.jwt_secret
        pieces["JWT check"] = statistics.median(
            await _times(lambda: actor_from_token(self._token, secret), SPLIT_SAMPLES, is_async=False))
        return pieces


def respond(model: type, answer: dict[str, Any]) -> bytes:
    """What FastAPI does with a route's answer: its response field's validate, then serialize_json (the fast path it
    takes when no response class is set)."""
    from fastapi.utils import create_model_field

    field = _FIELDS.get(model)
    if field is None:
        field = _FIELDS[model] = create_model_field(name=f"Response_{model.__name__}", type_=model,
                                                    mode="serialization")
    value, _ = field.validate(answer, {}, loc=("response",))
    return field.serialize_json(value, by_alias=True)


_FIELDS: dict[type, Any] = {}


async def run(stack: BenchStack, options: Options) -> Result:
    from benchmarks.scale import ensure_projected

    data = await ensure_projected(stack, options)
    count = options.size(200, 50)
    measured, floor_queries = queries(data), floors(data)
    token = stack.token("auditor", data.provinces[0].split("/")[0], "bench.auditor")
    api = await stack.api("api-reports", data.url)
    p50: dict[str, list[float]] = {q.name: [] for q in [*measured, *floor_queries]}
    p99: dict[str, list[float]] = {q.name: [] for q in [*measured, *floor_queries]}
    shapes: dict[str, Any] = {}
    pieces: dict[str, list[float]] = {}
    splitter = Split(stack, data, token)
    tables: dict[str, Any] = {}
    unvacuumed: list[float] = []
    try:
        headers = {"Authorization": f"Bearer {token}"}
        # The read models as the rebuild left them (their visibility map is what autovacuum has set so far): one
        # batch of the HQ report, then VACUUM (ANALYZE) them as autovacuum soon would, and measure that steady state.
        tables["as the rebuild left them"] = await table_state(data.url)
        async with HttpClient(api.url, headers) as client:
            await timed(client, measured[0], BATCH_WARMUP)
            unvacuumed = await timed(client, measured[0], count)
        await vacuum(data.url)
        tables["after VACUUM (ANALYZE)"] = await table_state(data.url)
        async with HttpClient(api.url, headers) as client:
            for query in [*measured, *floor_queries]:
                shapes[query.name] = {"target": target_of(query), **await check(client, query)}
                await timed(client, query, WARMUP)
        for rep in range(options.reps):
            # Alternate the order over the repetitions so drift of the shared machine spreads over all queries.
            order = [*floor_queries, *measured]
            for query in order if rep % 2 == 0 else list(reversed(order)):
                # A connection per batch (uvicorn closes one left idle for 5 s, e.g. during the split below).
                async with HttpClient(api.url, headers) as client:
                    await timed(client, query, BATCH_WARMUP)
                    samples = await timed(client, query, count)
                p50[query.name].append(percentile(samples, 50))
                p99[query.name].append(percentile(samples, 99))
            for name, value in (await splitter.measure()).items():
                pieces.setdefault(name, []).append(value)
    finally:
        stack.stop(api)

    result = Result("reports", f"Report queries at {data.topics:,} topics over HTTP")
    result.parameters = {
        "topics": data.topics, "events": data.events, "provinces": len(data.provinces), "cities": len(data.cities),
        "branches": len(data.branches), "requests_per_query": count, "reps": options.reps, "warmup": WARMUP,
        "client": "1 client, sequential requests on one keep-alive connection per query and repetition (after "
                  f"{BATCH_WARMUP} untimed ones), timed on the client",
        "token": "auditor of HQ", "percentiles": "nearest rank over one repetition's requests",
    }
    for query in measured:
        floor_name = query.floor
        for label, values, floor_values, target in (("p50", p50, p50, None), ("p99", p99, p99, TARGET_P99_MS)):
            result.add(Figure(f"{query.name} {label}", "ms", Spread.of(values[query.name]),
                              floor=Spread.of(floor_values[floor_name]), floor_name=f"{floor_name} {label}",
                              better="lower", absolute_target=target, digits=2))
    first = measured[0].name
    for label, p in (("p50", 50), ("p99", 99)):
        result.add(Figure(f"{first} {label}, before VACUUM (one batch)", "ms", Spread.of([percentile(unvacuumed, p)]),
                          digits=2, note="the read models as the rebuild left them, before the figures above"))
    for name, values in pieces.items():
        result.add(Figure(f"split: {name}", "ms", Spread.of(values), digits=3,
                          note="in-process, the median of SPLIT_SAMPLES calls (a fifth of them for the board) "
                               "per repetition"))
    result.details = {
        "answers": shapes,
        "tables": tables,
        "floors": {q.name: {"p50": p50[q.name], "p99": p99[q.name], "target": target_of(q)} for q in floor_queries},
        "split_note": ("in this process, against the same database: query layer = the query class's method "
                       "(SQLAlchemy connection checkout with its pre-ping, the statement, rows to dicts); SQL alone = "
                       "the very statement and parameters the driver got, as an asyncpg prepared statement on one "
                       "connection; response model + JSON = FastAPI's validate + serialize_json of the route's "
                       "answer; JWT check = api.auth.actor_from_token. HTTP, uvicorn, FastAPI routing and "
                       "dependencies and the client are the rest of a request (compare with the floor)."),
    }
    return result
