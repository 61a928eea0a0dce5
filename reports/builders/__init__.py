"""One module per report type; `BUILDERS` maps a ReportType to its builder class.
Each part of issue 10 registers its builders here (one line each)."""

from __future__ import annotations

from reports.builders.base import ReportBuilder

BUILDERS: dict[str, type[ReportBuilder]] = {}
