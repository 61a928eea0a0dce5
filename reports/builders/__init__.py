"""One module per report type; `BUILDERS` maps a ReportType to its builder class.
Each part of issue 10 registers its builders here (one line each)."""

from __future__ import annotations

from reports.builders.base import ReportBuilder
from reports.builders.operator_metrics import OperatorMetricsBuilder
from reports.builders.productivity import ProductivityBuilder
from reports.enums import ReportType

BUILDERS: dict[str, type[ReportBuilder]] = {}
BUILDERS[ReportType.OPERATOR_METRICS] = OperatorMetricsBuilder
BUILDERS[ReportType.PRODUCTIVITY] = ProductivityBuilder
