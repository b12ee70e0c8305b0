"""A topic worker that appends for real and then hangs inside the append, so a test can kill it (SIGKILL) after
the events are committed but before its workflow task completes: a worker lost at the worst moment.

    python -m tests.integration.crashing_worker --address HOST:PORT --task-queue Q --database-url URL

It prints "appended <stream> <version>" on stdout after each committed append, then never answers.
"""

from __future__ import annotations

import argparse
import asyncio

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.contracts import APPEND_EVENTS, AppendEventsInput, AppendEventsOutput
from activities.events import EventActivities
from eventstore import EventStore, create_pool
from workflows.topic import TopicWorkflow


class HangingAfterAppend(EventActivities):
    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendEventsInput) -> AppendEventsOutput:
        result = await super().append_events(request)
        print(f"appended {request.stream_id} {result.stream_version}", flush=True)
        await asyncio.Event().wait()  # the worker dies here
        return result


async def serve(address: str, task_queue: str, database_url: str) -> None:
    pool = await create_pool(database_url)
    client = await Client.connect(address)
    worker = Worker(client, task_queue=task_queue, workflows=[TopicWorkflow],
                    activities=[HangingAfterAppend(EventStore(pool)).append_events])
    async with worker:
        print("polling", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue, args.database_url))


if __name__ == "__main__":
    main()
