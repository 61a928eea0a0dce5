"""One module per report type; `BUILDERS` maps a ReportType to its builder class.
Each part of issue 10 registers its builders here (one line each)."""

from __future__ import annotations

from reports.builders.all_sessions import AllSessionsBuilder
from reports.builders.base import ReportBuilder
from reports.builders.bot_vs_operator import BotVsOperatorBuilder
from reports.builders.client_phrases import ClientPhrasesBuilder
from reports.builders.pages_visited import PagesVisitedBuilder
from reports.builders.popular_phrases import PopularPhrasesBuilder
from reports.builders.sessions_with_markers import SessionsWithMarkersBuilder

BUILDERS: dict[str, type[ReportBuilder]] = {}
BUILDERS[AllSessionsBuilder.report_type] = AllSessionsBuilder
BUILDERS[SessionsWithMarkersBuilder.report_type] = SessionsWithMarkersBuilder
BUILDERS[BotVsOperatorBuilder.report_type] = BotVsOperatorBuilder
BUILDERS[PagesVisitedBuilder.report_type] = PagesVisitedBuilder
BUILDERS[PopularPhrasesBuilder.report_type] = PopularPhrasesBuilder
BUILDERS[ClientPhrasesBuilder.report_type] = ClientPhrasesBuilder
