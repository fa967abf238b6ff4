"""The live TradingView market source: scanner discovery and websocket history."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import requests

from tvs_pipeline.config.schema import ResolvedScanner
from tvs_pipeline.errors import LookAheadError
from tvs_pipeline.market.query import build_scan_query
from tvs_pipeline.market.tradingview.faults import FaultClock
from tvs_pipeline.market.tradingview.fields import fit_to_market
from tvs_pipeline.market.tradingview.history import (
    HistoryBatch,
    HistoryClient,
    SymbolOutcome,
    random_session_id,
)
from tvs_pipeline.market.tradingview.past import PastScans
from tvs_pipeline.market.tradingview.scan_query import plan_scan
from tvs_pipeline.market.tradingview.scanner import ScannerClient
from tvs_pipeline.market.tradingview.series import SeriesRequest
from tvs_pipeline.settings import TradingViewSettings

__all__ = ["FETCH_REPORT_COLUMNS", "TV_BAR_COLUMNS", "TradingViewSource", "check_scan_day"]

LOG = logging.getLogger(__name__)
TV_BAR_COLUMNS = ("symbol", "time", "open", "high", "low", "close", "volume")
FETCH_REPORT_COLUMNS = ("symbol", "status", "reason", "bars", "attempts", "pages", "seconds")
# Bars are kept from one day before the window to one day after it; fetch_bars derives market
# dates and clips exactly. History is complete once a bar opens at or before 20:00 UTC of the day
# before the window: no later bar can belong to an earlier market day (the +4 h FX rule).
EDGE = timedelta(days=1)
LATEST_PRIOR_OPEN = timedelta(hours=4)


def check_scan_day(as_of: date, server_time: datetime, max_lag_hours: float, where: str) -> None:
    """Refuse a scan for any day but the latest complete one, and a scan taken too late for it.

    The scanner has no history: it answers with the market as it is at ``server_time``. That
    is day ``as_of`` only between 00:00 UTC of the next day and ``max_lag_hours`` later.

    Raises
    ------
    LookAheadError
        ``as_of`` is not the day before the service's date, or the scan came too late: the
        rows would describe a later day than ``as_of`` (a step retry cannot fix that).
    """
    now = server_time.astimezone(UTC)
    latest = now.date() - timedelta(days=1)
    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    if as_of != latest:
        raise LookAheadError(
            f"{where}: as_of {as_of}: the TradingView scanner answers for now ({stamp}) and keeps "
            f"no past, so only the latest complete day {latest} can be scanned "
            "(a day before it is rebuilt point in time; a later day has not closed)"
        )
    lag = (now - datetime(now.year, now.month, now.day, tzinfo=UTC)).total_seconds() / 3600
    if lag > max_lag_hours:
        raise LookAheadError(
            f"{where}: as_of {as_of}: scanned at {stamp}, {lag:.1f} h into {now.date()}, so the "
            f"rows would mix in {now.date()} trading; scan within {max_lag_hours:g} h after "
            "00:00 UTC (TVS_TV_SCAN_MAX_LAG_HOURS)"
        )


class TradingViewSource:
    """The ``MarketSource`` of the live service (or of a local stand-in at other URLs).

    ``scan`` pages the scanner for a resolved scanner; ``bars`` fetches daily history over the
    chart websocket. A symbol that cannot be fetched returns no rows: its reason is in
    ``last_errors`` and in :meth:`fetch_report` (``MISSING`` rows for ``data_health``).

    Parameters
    ----------
    settings : TradingViewSettings
        Endpoints, token, pacing and timeouts (``TVS_TV_*``).
    session_ids : callable, optional
        Chart session id factory (tests replaying recorded frames pass a fixed one).
    http : requests.Session, optional
        The scanner's HTTP session.
    clock : callable, optional
        UTC now, used when a scanner response carries no ``Date``.
    """

    def __init__(
        self,
        settings: TradingViewSettings,
        *,
        session_ids: Callable[[], str] = random_session_id,
        http: requests.Session | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        # One deadline for the whole source: the scanner's retries and the chart's reconnects.
        self.faults = FaultClock(settings.deadline)
        self.scanner = ScannerClient(settings, http, self.faults)
        self.history = HistoryClient(settings, session_ids, self.faults)
        self.clock = clock
        self.last_errors: dict[str, str] = {}
        self.last_batch: HistoryBatch | None = None
        self._report: list[dict[str, object]] = []
        self.past = PastScans(self)
        self._server_seen: tuple[datetime, float] | None = None

    def latest_day(self) -> date | None:
        """The service's latest complete day, from the ``Date`` of its last answer (None: none)."""
        if self._server_seen is None:
            return None
        seen, at = self._server_seen
        return (seen + timedelta(seconds=time.monotonic() - at)).date() - timedelta(days=1)

    def scan(self, scanner: ResolvedScanner, as_of: date) -> pd.DataFrame:
        """Rows of one scanner for ``as_of``: the service's for the latest day, else rebuilt.

        The latest complete day is scanned live. A day before it is answered point in time
        (``past.PastScans``): today's pool of the universe, its scanner fields rebuilt from the
        bars up to ``as_of``, the whole query applied to them (docs/methodology.md §2a).

        Parameters
        ----------
        scanner : ResolvedScanner
            The scanner; every L0-L4 filter, sort, limit and column goes to the service, with
            the columns of its market (``fields.fit_to_market``).
        as_of : date
            The latest complete day (the day before the service's UTC date, within
            ``TVS_TV_SCAN_MAX_LAG_HOURS``), or any day before it.

        Returns
        -------
        DataFrame
            ``ticker`` (``EXCHANGE:TICKER``, ``!`` kept) then the query's columns, at most the
            universe's limit rows: in the service's order, or the query's for a past day.

        Raises
        ------
        ConfigError
            A filter, column or sort cannot be expressed or names a field the market does not
            know, the service rejects a column, or a past day's query filters on a field bars
            do not determine.
        SourceError
            The service failed after retries or answered malformed data.
        LookAheadError
            ``as_of`` is after the latest complete day, or the latest day is scanned too late.
        """
        query = fit_to_market(build_scan_query(scanner), scanner.name)
        latest = self.latest_day()
        if latest is not None and as_of < latest:
            return self.past.scan(scanner, query, as_of, latest)
        result = self.scanner.scan(plan_scan(query, scanner.name), scanner.name)
        server = result.server_time or self.clock()
        self._server_seen = (server, time.monotonic())
        latest = server.astimezone(UTC).date() - timedelta(days=1)
        if as_of < latest:
            return self.past.scan(scanner, query, as_of, latest)
        check_scan_day(
            as_of,
            result.server_time or self.clock(),
            self.settings.scan_max_lag_hours,
            f"scanner {scanner.name}",
        )
        LOG.info(
            "scanner %s: %d rows of %d in %d pages",
            scanner.name,
            len(result.rows),
            result.total,
            result.pages,
        )
        return result.rows

    def bars(self, symbols: Iterable[str], start: date, end: date) -> pd.DataFrame:
        """Daily bars of ``symbols`` around ``[start, end]``, stamped at their open in UTC.

        Each symbol asks for as many bars as reach back to ``start`` and pages back with
        ``request_more_data`` only when the service sends fewer; the bar still forming is left
        out. ``fetch_bars`` turns ``time`` into the market date and clips to the window.

        Returns
        -------
        DataFrame
            ``TV_BAR_COLUMNS``: ``time`` the bar-open instant (``datetime64[ns, UTC]``) within one
            day of ``[start, end]``; ``volume`` NaN for series without volume; sorted by symbol
            and time. Symbols that failed are absent (see ``last_errors``).

        Raises
        ------
        ConfigError
            The service refused the token, or sends nothing but heartbeats (expired token).
        SourceError
            The host is unreachable or refuses the websocket after every retry.
        """
        wanted = sorted({symbols} if isinstance(symbols, str) else set(symbols))
        first = datetime(start.year, start.month, start.day, tzinfo=UTC)
        need = (first - LATEST_PRIOR_OPEN).timestamp()
        since = first - EDGE
        until = datetime(end.year, end.month, end.day, tzinfo=UTC) + EDGE
        requests_ = [SeriesRequest(symbol, need) for symbol in wanted]
        batch = self.history.fetch(requests_) if requests_ else HistoryBatch()
        self.last_batch = batch
        frames, errors = [], {}
        for symbol in wanted:
            outcome = batch.outcomes.get(symbol)
            result = outcome.result if outcome else None
            if result is None or outcome is None:
                errors[symbol] = outcome.error if outcome and outcome.error else "not fetched"
                self._record(symbol, "MISSING", errors[symbol], 0, outcome)
                continue
            times = np.array(sorted(result.bars), dtype="float64")
            if result.bar_close_time is not None and len(times):
                now = batch.server_now or self.clock().timestamp()
                if result.bar_close_time > now:
                    times = times[:-1]  # the bar still forming
            keep = times[(times >= since.timestamp()) & (times < until.timestamp())]
            values = np.array([result.bars[t] for t in keep], dtype="float64").reshape(-1, 5)
            frames.append(
                pd.DataFrame(
                    {
                        "symbol": symbol,
                        "time": pd.to_datetime(keep, unit="s", utc=True).as_unit("ns"),
                        **{k: values[:, j] for j, k in enumerate(TV_BAR_COLUMNS[2:])},
                    }
                )
            )
            status = "OK" if len(keep) else "MISSING"
            reason = (
                f"{len(keep)} bars ({result.done})"
                if len(keep)
                else f"no bars in the window ({result.done or 'none'})"
            )
            if not len(keep):
                errors[symbol] = reason
            self._record(symbol, status, reason, len(keep), outcome)
        self.last_errors = errors
        if errors:
            LOG.warning("tradingview history: %d of %d symbols failed", len(errors), len(wanted))
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in TV_BAR_COLUMNS}).astype(
                {"symbol": "str", "time": "datetime64[ns, UTC]"}
            )
        out = pd.concat(frames, ignore_index=True)
        out["symbol"] = out["symbol"].astype("str")
        return out

    def fetch_quietly(self, symbols: Iterable[str], start: date, end: date) -> pd.DataFrame:
        """``bars`` for the source's own use (a point-in-time pool): no fetch-report rows."""
        report, errors = list(self._report), dict(self.last_errors)
        try:
            return self.bars(symbols, start, end)
        finally:
            self._report, self.last_errors = report, errors

    def _record(
        self, symbol: str, status: str, reason: str, n_bars: int, outcome: SymbolOutcome | None
    ) -> None:
        self._report.append(
            {
                "symbol": symbol,
                "status": status,
                "reason": reason,
                "bars": int(n_bars),
                "attempts": outcome.attempts if outcome else 0,
                "pages": outcome.result.pages if outcome and outcome.result else 0,
                "seconds": round(outcome.seconds, 3) if outcome else 0.0,
            }
        )

    def fetch_report(self, clear: bool = False) -> pd.DataFrame:
        """One row per symbol fetched since the source was built (or last cleared).

        Parameters
        ----------
        clear : bool, default False
            Forget the rows once returned (call at the end of each ``bars`` asset run).

        Returns
        -------
        DataFrame
            ``FETCH_REPORT_COLUMNS``: status ``OK`` or ``MISSING`` with the reason (the service's
            error, a timeout, lost connections), bars kept, attempts, pages and seconds; the
            latest row per symbol.
        """
        frame = pd.DataFrame(self._report, columns=list(FETCH_REPORT_COLUMNS))
        frame = frame.drop_duplicates("symbol", keep="last").reset_index(drop=True)
        if clear:
            self._report = []
        return frame
