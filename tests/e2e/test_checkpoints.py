"""季度管控 over HTTP: a checkpoint opened by a control meeting is reported by the claiming branch and scored by a
manager; reporting a quarter without an open checkpoint, another branch, and bad quarters or scores are refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.calendar import next_quarter, quarter_of
from tests.e2e.journeys import AUDITOR, BJ, SX, drive, propose, send
from tests.e2e.stack import Stack, bearer

QUARTER = quarter_of(datetime.now(ZoneInfo("Asia/Shanghai")).date())  # its end, and report window, lie ahead
REPORT = {"progress_pct": 40, "summary": "摸底完成，整改过半",
          "indicators": [{"indicator": "投递准时率", "actual": 97.2}]}
ASSESSMENT = {"score": 85, "rating": "on_track", "comment": "进度符合预期"}


async def error_of(stack: Stack, who: dict[str, str], path: str, body, status: int) -> dict:
    response = await stack.as_(who, "POST", path, json=body)
    assert response.status_code == status, f"{path}: {response.status_code} {response.text}"
    return response.json()["error"]


async def test_report_then_assessment_on_a_checkpoint_opened_by_a_control_meeting(stack: Stack):
    topic = await drive(stack, await propose(stack), "in_progress")
    base = f"/v1/topics/{topic['id']}/checkpoints/{QUARTER}"

    # No checkpoint for the quarter yet: nothing to report on.
    unknown = await error_of(stack, SX.branch, f"{base}/report", REPORT, 404)
    assert unknown["code"] == "checkpoint.unknown" and unknown["details"]["quarter"] == QUARTER

    await stack.wait_for_version(topic["id"], topic["version"])
    meeting = await send(stack, SX.manager, "/v1/control-meetings", {"org": "HQ/SX", "quarter": QUARTER})
    assert (meeting["topics"], meeting["opened"], meeting["already_open"], meeting["refused"]) == (1, 1, 0, [])

    # Only a reported checkpoint is scored.
    early = await error_of(stack, SX.manager, f"{base}/assessment", ASSESSMENT, 409)
    assert early["code"] == "checkpoint.not_reported"

    reported = await send(stack, SX.branch, f"{base}/report", REPORT, key="report-1")
    assert reported["events"] == ["CheckpointReported"]
    (checkpoint,) = reported["checkpoints"]
    assert (checkpoint["quarter"], checkpoint["status"], checkpoint["progress_pct"]) == (QUARTER, "reported", 40)
    assert checkpoint["indicators"] == [{"indicator": "投递准时率", "actual": 97.2}]
    # A retry with the same key is the same answer; a second report is refused: the checkpoint is no longer open.
    assert await send(stack, SX.branch, f"{base}/report", REPORT, key="report-1") == reported
    again = await error_of(stack, SX.branch, f"{base}/report", REPORT, 409)
    assert again["code"] == "checkpoint.not_open" and again["details"]["status"] == "reported"
    # Another quarter has no checkpoint at all.
    later = await error_of(stack, SX.branch, f"{base.rsplit('/', 1)[0]}/{next_quarter(QUARTER)}/report", REPORT, 404)
    assert later["code"] == "checkpoint.unknown"

    assessed = await send(stack, SX.manager, f"{base}/assessment", ASSESSMENT)
    assert assessed["events"] == ["CheckpointAssessed"]
    (checkpoint,) = assessed["checkpoints"]
    assert (checkpoint["status"], checkpoint["score"], checkpoint["rating"]) == ("assessed", 85, "on_track")
    assert checkpoint["comment"] == "进度符合预期"

    await stack.wait_for_version(topic["id"], assessed["version"])
    seen = await send(stack, AUDITOR, f"/v1/topics/{topic['id']}", None, method="GET")
    assert seen["checkpoints"] == assessed["checkpoints"]
    log = (await send(stack, AUDITOR, f"/v1/topics/{topic['id']}/events", None, method="GET"))["events"]
    assert [e["type"] for e in log][-3:] == ["CheckpointOpened", "CheckpointReported", "CheckpointAssessed"]


async def test_who_may_report_and_assess_and_what_is_a_valid_quarter_or_score(stack: Stack):
    topic = await drive(stack, await propose(stack), "in_progress")
    await stack.wait_for_version(topic["id"], topic["version"])
    await send(stack, SX.manager, "/v1/control-meetings", {"org": "HQ/SX", "quarter": QUARTER})
    base = f"/v1/topics/{topic['id']}/checkpoints/{QUARTER}"
    before = await stack.event_count()

    # Another branch of the province sees the topic but did not claim it; a branch elsewhere does not see it.
    other = await error_of(stack, bearer("branch", "HQ/SX/TY/B018"), f"{base}/report", REPORT, 403)
    assert other["code"] == "org.out_of_scope"
    elsewhere = await error_of(stack, BJ.branch, f"{base}/report", REPORT, 403)
    assert elsewhere["code"] == "topic.out_of_scope"
    # Scoring is a manager's; a manager of another province cannot see the topic.
    assert (await error_of(stack, SX.branch, f"{base}/assessment", ASSESSMENT, 403))["code"] == "role.not_allowed"
    assert (await error_of(stack, BJ.manager, f"{base}/assessment", ASSESSMENT, 403))["code"] == "topic.out_of_scope"

    for bad in ("2026Q5", "2026-Q3", "26Q3", "2026q3"):
        error = await error_of(stack, SX.branch, f"/v1/topics/{topic['id']}/checkpoints/{bad}/report", REPORT, 422)
        assert error["code"] == "request.invalid"
        assert [e["loc"] for e in error["details"]["errors"]] == [["path", "quarter"]], error
    bad_path = f"/v1/topics/{topic['id']}/checkpoints/2026Q0/assessment"
    assert (await error_of(stack, SX.manager, bad_path, ASSESSMENT, 422))["details"]["errors"][0]["loc"] == [
        "path", "quarter"]
    for body, field in (({**REPORT, "progress_pct": 101}, "progress_pct"), ({**REPORT, "summary": ""}, "summary")):
        error = await error_of(stack, SX.branch, f"{base}/report", body, 422)
        assert [e["loc"] for e in error["details"]["errors"]] == [["body", field]]
    for body, field in (({**ASSESSMENT, "score": 101}, "score"), ({**ASSESSMENT, "score": -1}, "score"),
                        ({**ASSESSMENT, "rating": "fine"}, "rating"), ({**ASSESSMENT, "quarter": QUARTER}, "quarter")):
        error = await error_of(stack, SX.manager, f"{base}/assessment", body, 422)
        assert error["code"] == "request.invalid"
        assert [e["loc"] for e in error["details"]["errors"]] == [["body", field]]

    # A topic that is not being worked on has no checkpoints to report on.
    open_topic = await drive(stack, await propose(stack), "open")
    path = f"/v1/topics/{open_topic['id']}/checkpoints/{QUARTER}/report"
    assert (await error_of(stack, SX.branch, path, REPORT, 409))["code"] == "state.not_allowed"
    assert await stack.event_count() == before + open_topic["version"]  # every refusal recorded nothing
