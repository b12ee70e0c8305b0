"""The floor of the command path: what the same Temporal server costs for a bare workflow answering Updates.

Two trivial workflows, each answering `execute` Updates one after another as a topic's workflow does:

- `FloorBare`: the update answers from memory (no activity): the least any Update can cost;
- `FloorActivity`: the update runs one trivial regular activity, then answers: the shape of Lingti's command
  (decide, append through an activity, answer), without the domain, the database or HTTP;
- `FloorLocalActivity`: the same with a local activity (the shape of Lingti's command since "local-append").

The worker runs as a process of its own, exactly like `lingti worker` (default `Worker` options, one client):

    python -m benchmarks.floor --address 127.0.0.1:7233 --task-queue floor

`drive()` (in the benchmark process) starts each workflow with update-with-start (as Lingti's propose does), then
sends the remaining updates one at a time, and times each one on the client.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

UPDATE = "execute"


@activity.defn(name="floor_touch")
async def touch(step: int) -> int:
    """The trivial activity: nothing but the task-queue round trip."""
    return step


class _Floor:
    def __init__(self) -> None:
        self._steps = 0
        self._last = False

    async def _wait(self, total: int) -> int:
        await workflow.wait_condition(lambda: self._last and workflow.all_handlers_finished())
        return self._steps


@workflow.defn(name="FloorBare")
class FloorBare(_Floor):
    @workflow.run
    async def run(self, total: int) -> int:
        return await self._wait(total)

    @workflow.update(name=UPDATE)
    async def execute(self, step: int, last: bool) -> int:
        self._steps += 1
        self._last = last
        return self._steps


@workflow.defn(name="FloorActivity")
class FloorActivity(_Floor):
    @workflow.run
    async def run(self, total: int) -> int:
        return await self._wait(total)

    @workflow.update(name=UPDATE)
    async def execute(self, step: int, last: bool) -> int:
        await workflow.execute_activity(touch, step, start_to_close_timeout=timedelta(seconds=30))
        self._steps += 1
        self._last = last
        return self._steps


@workflow.defn(name="FloorLocalActivity")
class FloorLocalActivity(_Floor):
    @workflow.run
    async def run(self, total: int) -> int:
        return await self._wait(total)

    @workflow.update(name=UPDATE)
    async def execute(self, step: int, last: bool) -> int:
        await workflow.execute_local_activity(touch, step, start_to_close_timeout=timedelta(seconds=30))
        self._steps += 1
        self._last = last
        return self._steps


WORKFLOWS = {"bare": FloorBare, "activity": FloorActivity, "local": FloorLocalActivity}


def worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=list(WORKFLOWS.values()), activities=[touch])


async def serve(address: str, task_queue: str, namespace: str = "default") -> None:
    """Run the floor's worker until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await Client.connect(address, namespace=namespace)
    async with worker(client, task_queue):
        print(f"floor worker polling {task_queue} at {address}", flush=True)
        await stop.wait()


# --- the driver ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """Client-side latencies (seconds) of every update, and the wall time of the whole run."""

    latencies: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # what each latency was (Lingti: the command), if known
    seconds: float = 0.0
    workflows: int = 0

    @property
    def per_second(self) -> float:
        return self.workflows / self.seconds if self.seconds else 0.0


async def drive(client: Client, task_queue: str, kind: str, workflows: int, updates: int, clients: int) -> Run:
    """`workflows` workflows of `kind` ("bare" or "activity"), `updates` updates each, `clients` at a time (each
    client takes the next workflow when it has finished one)."""
    definition = WORKFLOWS[kind]
    run = Run(workflows=workflows)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(workflows):
        queue.put_nowait(i)
    prefix = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        workflow_id = f"floor-{kind}-{prefix}-{i}"
        start = WithStartWorkflowOperation(definition.run, updates, id=workflow_id, task_queue=task_queue,
                                           id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        began = time.perf_counter()
        await client.execute_update_with_start_workflow(definition.execute, args=[1, updates == 1],
                                                        start_workflow_operation=start, id=f"{workflow_id}-1")
        run.latencies.append(time.perf_counter() - began)
        handle = client.get_workflow_handle(workflow_id)
        for step in range(2, updates + 1):
            began = time.perf_counter()
            await handle.execute_update(definition.execute, args=[step, step == updates], id=f"{workflow_id}-{step}")
            run.latencies.append(time.perf_counter() - began)

    async def client_loop() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await one(i)

    began = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    run.seconds = time.perf_counter() - began
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", required=True, help="Temporal frontend host:port")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--namespace", default="default")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.address, args.task_queue, args.namespace))


if __name__ == "__main__":
    main()
