"""Read-side queries for the API: topic list/detail/history, completion report, visibility rules."""

from projections.queries.completion import CompletionReports, end_of_day
from projections.queries.cursor import InvalidCursor
from projections.queries.topics import TopicQueries
from projections.queries.visibility import topic_visible_to

__all__ = ["CompletionReports", "InvalidCursor", "TopicQueries", "end_of_day", "topic_visible_to"]
