"""Downloads: the completion bulletin as XLSX, CSV or an aligned text table, and the audit log as CSV."""

from api.exports.bulletin import (
    BULLETIN_COLUMNS, as_of_label, bulletin_csv, bulletin_filename, bulletin_xlsx, content_disposition,
)
from api.exports.table import bulletin_table

__all__ = ["BULLETIN_COLUMNS", "as_of_label", "bulletin_csv", "bulletin_filename", "bulletin_table",
           "bulletin_xlsx", "content_disposition"]
