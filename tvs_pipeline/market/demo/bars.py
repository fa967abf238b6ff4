"""The demo market's daily bars: each listing samples its path, with planted data defects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.market.demo.epoch import CALENDAR, Streams, day_index, normal
from tvs_pipeline.market.demo.model import LatentPaths

__all__ = ["OHLCV", "BarStore", "build_bars"]

# Planted defects: first event (days after EPOCH_START) and spacing; events alternate between
# the kind's two hosts (a liquid up-trending stock, a secondary venue of a top crypto base).
SCHEDULE = {"frozen": (30, 150), "gap_multi": (60, 150), "spike": (110, 150), "gap_1": (200, 300)}
RUN_LENGTH = {"frozen": 7, "gap_multi": 5, "spike": 1, "gap_1": 1}
# Halts: four liquid stocks stop trading for HALT_DAYS every HALT_EVERY days, phases
# HALT_EVERY / 4 apart, so on any day after the first halt one of them has been halted for at
# least 75 days (STALE) while still listed by the scanner with its last values.
STALE_FROM = date(2024, 6, 3)
HALT_DAYS, HALT_EVERY, HALT_HOSTS = 150, 300, 4
YOUNG_DAYS = 90  # a token is young for this many days after its first bar
VENUE_NOISE = 0.0004  # log-price noise of a crypto venue around its base's path
LISTING_COLUMNS = ["symbol", "exchange", "ticker", "type", "asset_class", "calendar", "sector",
                   "base_currency", "currency", "multiplier", "first_date", "last_date",
                   "description"]  # fmt: skip
OHLCV = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class BarStore:
    """Every listing's bars, concatenated by listing in catalog order.

    Attributes
    ----------
    offsets : ndarray
        Listing ``j``'s bars are rows ``offsets[j]:offsets[j + 1]``.
    day : ndarray
        Calendar-day index of every bar.
    ohlcv : dict of str to ndarray
        ``open``, ``high``, ``low``, ``close``, ``volume`` of every bar.
    last : ndarray
        ``last[day, listing]``: row of the listing's last bar at or before the day, -1 before it.
    listings : DataFrame
        The public listings table (columns ``LISTING_COLUMNS``).
    defects : DataFrame
        The planted defects: symbol, defect, start, end; sorted by defect, symbol and start.
    stamp : ndarray
        The UTC instant each bar opens (int64 nanoseconds), as TradingView stamps a daily bar
        (`tvs_pipeline.funnel.calendars.session_opens`); empty in a store of bars without
        stamps (`tvs_pipeline.market.point_in_time`).
    """

    offsets: np.ndarray
    day: np.ndarray
    ohlcv: dict[str, np.ndarray]
    last: np.ndarray
    listings: pd.DataFrame
    defects: pd.DataFrame
    stamp: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def build_bars(
    catalog: pd.DataFrame,
    paths: pd.DataFrame,
    latent: LatentPaths,
    calendars: Mapping[str, tuple[np.ndarray, np.ndarray]],
    streams: Streams,
) -> BarStore:
    """Every listing's bars on its own sessions over the epoch, with defects planted.

    Parameters
    ----------
    catalog : DataFrame
        The listings, as ``build_catalog`` returns them.
    paths : DataFrame
        The paths, as ``build_paths`` returns them.
    latent : LatentPaths
        The simulated process.
    calendars : mapping
        Per calendar of the catalog (``XNYS``, ``24/7``, ``24/5``, ``CMES``): the calendar-day
        indices of its sessions in the epoch, and their UTC open instants (int64 ns).
    streams : Streams
        The market's random streams.

    Returns
    -------
    BarStore
        The bars, the listings table and the planted defects.
    """
    cat, n_days = catalog, len(CALENDAR)
    events, halts = _plan_defects(catalog, paths)
    fields: dict[str, list[np.ndarray]] = {f: [] for f in ("day", "stamp", *OHLCV)}
    found: list[tuple[str, str, int, int]] = []
    vol_d, price = paths["vol_d"].to_numpy(), paths["price"].to_numpy()
    scaled = paths["in_regime"].to_numpy()
    stable = (paths["kind"] == "stablecoin").to_numpy()
    for col, row in enumerate(cat.itertuples(index=False)):
        calendar, opens = calendars[row.calendar]
        after = calendar >= row.first_day
        days, stamps = calendar[after], opens[after]
        for start, end in halts.get(col, ()):
            trading = (days < start) | (days >= end)
            days, stamps = days[trading], stamps[trading]
        noise = streams.draw(row.id, 2, normal, 5)[days]
        basis = VENUE_NOISE if row.asset_class == "crypto" and not stable[row.path] else 0.0
        close = np.exp(latent.x[days, row.path] + basis * noise[:, 0]) * row.multiplier
        sigma = vol_d[row.path] * (latent.vol_mult[days] if scaled[row.path] else 1.0)
        previous = np.concatenate([close[:1], close[:-1]])
        open_ = previous * np.exp(0.25 * vol_d[row.path] * noise[:, 1])
        high = np.maximum(open_, close) * np.exp(0.6 * sigma * np.abs(noise[:, 2]))
        low = np.minimum(open_, close) * np.exp(-0.6 * sigma * np.abs(noise[:, 3]))
        surprise = np.minimum(np.abs(np.log(close / previous)) / sigma, 6.0)
        level = price[row.path] * row.multiplier  # the listing's price on its anchor day
        volume = row.value / np.sqrt(level * close)
        volume = volume * np.exp(0.4 * noise[:, 4] + 0.5 * surprise - 0.5)
        if row.asset_class != "crypto":
            volume = np.maximum(np.round(volume), 1.0)
        keep = np.ones(len(days), dtype=bool)
        for defect, target in events.get(col, []):
            k, n = int(days.searchsorted(target)), RUN_LENGTH[defect]
            if k < 1 or k + n >= len(days):
                continue
            found.append((row.symbol, defect, int(days[k]), int(days[k + n - 1])))
            if defect.startswith("gap"):
                keep[k : k + n] = False
            elif defect == "spike":
                close[k] = close[k - 1] * 10.0
                high[k] = max(high[k], close[k])
            else:  # frozen: one flat bar repeated
                flat = slice(k, k + n)
                close[flat] = open_[flat] = high[flat] = low[flat] = close[k]
        for start, end in halts.get(col, ()):
            found.append((row.symbol, "stale", start, end - 1))
        if row.asset_class == "crypto" and row.first_day > 0:
            end = min(row.first_day + YOUNG_DAYS, n_days) - 1
            found.append((row.symbol, "young", row.first_day, end))
        for name, values in zip(
            fields, (days, stamps, open_, high, low, close, volume), strict=True
        ):
            fields[name].append(values[keep])
    lengths = np.array([len(days) for days in fields["day"]])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    day = np.concatenate(fields.pop("day")).astype(np.int64)
    stamp = np.concatenate(fields.pop("stamp")).astype(np.int64)
    ohlcv = {name: np.concatenate(fields.pop(name)) for name in OHLCV}
    has_bar = np.zeros((n_days, len(cat)), dtype=np.int32)
    has_bar[day, np.repeat(np.arange(len(cat)), lengths)] = 1
    # last[day, listing]: row of the listing's last bar at or before the day, -1 before it.
    last = np.cumsum(has_bar, axis=0, dtype=np.int32)
    before = last == 0
    last += (offsets[:-1] - 1).astype(np.int32)
    last[before] = -1
    first, final = day[offsets[:-1]], day[offsets[1:] - 1]
    ends = cat["calendar"].map({name: days[-1] for name, (days, _) in calendars.items()})
    through = final >= ends.to_numpy()
    dates = {"first_date": CALENDAR[first], "last_date": CALENDAR[final].where(~through, pd.NaT)}
    frame = pd.DataFrame(found, columns=["symbol", "defect", "start", "end"])
    frame["start"], frame["end"] = CALENDAR[frame["start"]], CALENDAR[frame["end"]]
    return BarStore(
        offsets=offsets,
        day=day,
        stamp=stamp,
        ohlcv=ohlcv,
        last=last,
        listings=cat.assign(**dates)[LISTING_COLUMNS],
        defects=frame.sort_values(["defect", "symbol", "start"], ignore_index=True),
    )


def _plan_defects(
    catalog: pd.DataFrame, paths: pd.DataFrame
) -> tuple[dict[int, list[tuple[str, int]]], dict[int, list[tuple[int, int]]]]:
    """Defect events ``{listing: [(defect, day)]}`` and halts ``{listing: [(start, end)]}``."""
    cat = catalog
    kind = paths["kind"].to_numpy()[cat["path"].to_numpy()]
    stocks = cat[(cat["asset_class"] == "equity") & (kind == "trend_up")]
    stock_hosts = stocks.sort_values("value", ascending=False).index[:4].tolist()
    # The second most liquid venue of each top crypto base: the base stays tradable.
    core = cat[cat["rank"] >= 0].sort_values(["rank", "value"], ascending=[True, False])
    crypto_hosts = core.index[core.groupby("rank").cumcount() == 1][:5].tolist()
    # MIN_SCALE and MIN_CORE_CRYPTO guarantee 4 up-trending stocks and 5 multi-venue bases.
    events: dict[int, list[tuple[str, int]]] = {}
    for k, (defect, (first, step)) in enumerate(SCHEDULE.items()):
        for j, day in enumerate(range(first, len(CALENDAR) - 30, step)):
            host = (stock_hosts[k], crypto_hosts[k])[j % 2]
            events.setdefault(host, []).append((defect, day))
    # Halt hosts: the most liquid other stocks, up-trending first (so the gates find them).
    others = cat[(cat["asset_class"] == "equity") & ~cat.index.isin(stock_hosts)]
    order = others.assign(down=kind[others.index] != "trend_up")
    halted = order.sort_values(["down", "value"], ascending=[True, False]).index
    halts: dict[int, list[tuple[int, int]]] = {}
    for j, host in enumerate(halted[:HALT_HOSTS].tolist()):
        first = day_index(STALE_FROM) + j * HALT_EVERY // HALT_HOSTS
        halts[host] = [
            (start, min(start + HALT_DAYS, len(CALENDAR)))
            for start in range(first, len(CALENDAR), HALT_EVERY)
        ]
    return events, halts
