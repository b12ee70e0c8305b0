"""Pure pieces of the read side: the completion row's steps, calendar-day cut-offs, list cursors."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from domain import events as ev
from projections.base import ProjectionError
from projections.completion import CompletionRow, completion_step
from projections.queries.completion import end_of_day
from projections.queries.cursor import InvalidCursor, decode_cursor, encode_cursor

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=timezone.utc)


def _proposed(category: str = "经营管理") -> ev.TopicProposed:
    return ev.TopicProposed(topic_id="T1", title="t", description="", category=category, org="HQ/SX",
                            indicators=(), due_date=date(2026, 1, 1), reward=None, proposer="p")


def _run(*events: ev.Event) -> CompletionRow:
    row = None
    for i, event in enumerate(events):
        row = completion_step(row, event, T0 + timedelta(days=i), "T1")
    return row


def test_only_a_confirmed_claim_counts_and_it_names_the_claiming_unit():
    row = _run(_proposed(), ev.TopicClaimed(claim_id="C1", org="HQ/SX/A", note="", claimant="a"),
               ev.ClaimRejected(claim_id="C1", comment=""),
               ev.TopicClaimed(claim_id="C2", org="HQ/SX/B", note="", claimant="b"))
    assert (row.claim_org, row.claimed_at, row.pending_claim_org) == (None, None, "HQ/SX/B")

    row = completion_step(row, ev.ClaimConfirmed(claim_id="C2", comment=""), T0 + timedelta(days=9), "T1")
    assert (row.claim_org, row.claimed_at, row.pending_claim_org) == ("HQ/SX/B", T0 + timedelta(days=9), None)


def test_conclusion_and_withdrawal_keep_their_instants_and_revisions_move_the_category():
    row = _run(_proposed(), ev.ProposalRevised(title="t", description="", category="服务质量", indicators=(),
                                               due_date=date(2026, 1, 1), reward=None),
               ev.TopicWithdrawn(reason="r", previous_state="proposed"))
    assert (row.category, row.withdrawn_at, row.concluded_at) == ("服务质量", T0 + timedelta(days=2), None)
    assert completion_step(row, ev.ConclusionApproved(comment=""), T0, "T1").concluded_at == T0
    assert completion_step(row, ev.PostingCompleted(final_score=92.3, reward_share=1.0), T0, "T1").concluded_at == T0
    posting = ev.ConclusionEndorsed(comment="", final_score=92.3, posting_ends_at=T0)
    assert completion_step(row, posting, T0, "T1").concluded_at is None  # 公示 is not 结题 yet


def test_an_event_before_the_proposal_is_refused():
    with pytest.raises(ProjectionError, match="before TopicProposed"):
        completion_step(None, ev.ClaimConfirmed(claim_id="C1", comment=""), T0, "T1")


def test_end_of_day_is_the_last_microsecond_of_the_local_day():
    cut = end_of_day(date(2025, 9, 30))
    assert cut.isoformat() == "2025-09-30T23:59:59.999999+08:00"
    assert cut.astimezone(timezone.utc) == datetime(2025, 9, 30, 15, 59, 59, 999999, tzinfo=timezone.utc)


def test_cursors_round_trip_and_refuse_garbage():
    assert decode_cursor(encode_cursor(T0, "T-1/x")) == (T0, "T-1/x")
    for garbage in ("", "abc", encode_cursor(T0, "x")[:-3], "WyIyMDI1LTAxLTAxIiwgMV0"):
        with pytest.raises(InvalidCursor):
            decode_cursor(garbage)
