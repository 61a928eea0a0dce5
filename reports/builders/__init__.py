"""One module per report type; `BUILDERS` maps a ReportType to its builder class."""

from __future__ import annotations

from reports.builders.all_sessions import AllSessionsBuilder
from reports.builders.base import ReportBuilder
from reports.builders.billing import BillingReportBuilder
from reports.builders.bot_vs_operator import BotVsOperatorBuilder
from reports.builders.client_phrases import ClientPhrasesBuilder
from reports.builders.operator_metrics import OperatorMetricsBuilder
from reports.builders.pages_visited import PagesVisitedBuilder
from reports.builders.popular_phrases import PopularPhrasesBuilder
from reports.builders.productivity import ProductivityBuilder
from reports.builders.sessions_with_markers import SessionsWithMarkersBuilder

BUILDERS: dict[str, type[ReportBuilder]] = {
    builder.report_type: builder
    for builder in (
        AllSessionsBuilder,
        SessionsWithMarkersBuilder,
        BotVsOperatorBuilder,
        PagesVisitedBuilder,
        PopularPhrasesBuilder,
        ClientPhrasesBuilder,
        OperatorMetricsBuilder,
        ProductivityBuilder,
        BillingReportBuilder,
    )
}
