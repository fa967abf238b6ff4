"""The book carried from day to day: yesterday's decision drifted to today, re-optimised on cadence.

Allocation D starts from the book decided at D−1, traded at that close and held over session D
(`tvs_pipeline.simulation.simulator.hold_session`, the step the track record takes too). The
drifted book is what the optimiser sees as its holdings; it is re-optimised only on the
cadence grid, when it has drifted too far, or when there is none yet; otherwise it is held.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.book import EXPOSURE_COLUMNS, target_weights
from tvs_pipeline.allocation.params import AllocationParams
from tvs_pipeline.allocation.weights import flatten_weights
from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.calendars import sessions_before, shared_sessions
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.simulator import Holdings, exposures, hold_session, trade_to

__all__ = [
    "DAY_COLUMNS",
    "EXPOSURE_TOLERANCE",
    "BookKeeper",
    "exposure_finding",
    "flipped_atoms",
    "rebalance_reason",
]

COMPOSITION = ("symbol", "logic", "direction", "sign", "sleeve", "calendar")
# Columns every row of a day's book carries: its exposures, whether it trades and at what cost.
DAY_COLUMNS = (
    *EXPOSURE_COLUMNS,
    "rebalance",
    "rebalance_reason",
    "drift",
    "planned_turnover",
    "planned_cost",
    "last_session",
)
# Columns of the physical rows only (blank on atom rows).
PHYSICAL_COLUMNS = ("net_weight", "held_weight", "since", "gross_weight", "n_atoms")


# How far a book's sums may stray from what they must be (float noise is ~1e-15).
EXPOSURE_TOLERANCE = 1e-6


def exposure_finding(book: pd.DataFrame) -> str:
    """What is wrong with a day's book's exposure (empty when nothing is).

    The physical net weights must sum to the atoms' net ``Σ sign·w`` (flattening loses
    nothing), and a book traded that day must hold the profile's exposure: its atoms sum to 1
    (fully invested), or to 0 when a rebalance found nothing selected. Between rebalances
    the atoms drift and their sum moves with the book's cash, so only the first rule holds.
    """
    if book.empty:
        return ""
    atoms = book.loc[book["kind"] == "atom"]
    physical = book.loc[book["kind"] == "physical"]
    atom_net = float((atoms["sign"] * atoms["weight"]).sum())
    net = float(physical["net_weight"].sum())
    problems = []
    if abs(net - atom_net) > EXPOSURE_TOLERANCE:
        problems.append(f"Σ net weight {net:.6f} differs from the atoms' net {atom_net:.6f}")
    if bool(book["rebalance"].iloc[0]):
        total = float(atoms["weight"].sum())
        target = 1.0 if total > EXPOSURE_TOLERANCE else 0.0
        if abs(total - target) > EXPOSURE_TOLERANCE:
            problems.append(f"the traded atoms sum to {total:.6f}, expected {target:g}")
    return "; ".join(problems)


def rebalance_reason(
    *,
    has_book: bool,
    calendars: list[str],
    as_of: date,
    step: int,
    drift: float,
    tolerance: float,
    flipped: int = 0,
) -> str:
    """Why the book is re-optimised on ``as_of`` (empty: it is held).

    ``initial`` when nothing is held yet; ``cadence`` on every ``step``-th shared session of
    ``calendars`` (the grid `sessions_before` fixes for all time, so a backfill and the
    nightly runs rebalance on the same dates); ``signal`` when ``flipped`` held atoms changed
    side at D (a mean-reversion or rating atom re-decides its side every ``timescale`` of its
    own sessions, usually sooner than the cadence: holding the old side would hold the
    opposite of its stream); ``drift`` when the one-way distance ``Σ|h − w_target|`` from the
    last target exceeds ``tolerance``.
    """
    if not has_book:
        return "initial"
    if calendars:
        day = pd.Timestamp(as_of)
        on_session = len(shared_sessions(sorted(set(calendars)), day, day)) == 1
        if on_session and sessions_before(calendars, day) % step == 0:
            return "cadence"
    if flipped:
        return "signal"
    if drift > tolerance:
        return "drift"
    return ""


def flipped_atoms(held: pd.Series, today: pd.Series) -> int:
    """How many held atoms' side at D differs from the side held (the ``signal`` rule).

    ``held``: atom -> the side (+1/-1) of each atom held with a non-zero weight; ``today``:
    atom -> its side decided at D. Atoms in only one of them do not count.
    """
    if held.index.equals(today.index):  # the same atoms (the tournament's daily check): fast
        return int((np.sign(held.to_numpy(dtype="float64")) != np.sign(today.to_numpy())).sum())
    common = held.index.intersection(today.index)
    return int((np.sign(held[common].astype("float64")) != np.sign(today[common])).sum())


class BookKeeper:
    """Carries a role's book through the days of a run, in order.

    Parameters
    ----------
    config : AllocationParams
        The profile's allocation block.
    friction : FrictionModel
        Prices the planned turnover, in the optimiser and in the record.
    step : int
        Shared sessions between cadence rebalances.
    drift_tolerance : float
        One-way drift from the last target that forces a rebalance.
    previous : DataFrame, optional
        The stored ``allocation`` partition of the day before the run's first day (its rows
        without ``date``); None when the lake holds no earlier partition.
    previous_day : date, optional
        The day of ``previous``.
    """

    def __init__(
        self,
        config: AllocationParams,
        friction: FrictionModel,
        step: int,
        drift_tolerance: float,
        previous: pd.DataFrame | None = None,
        previous_day: date | None = None,
    ) -> None:
        self.config = config
        self.friction = friction
        self.step = step
        self.drift_tolerance = drift_tolerance
        self._book = previous if previous is not None and len(previous) else None
        self._day = previous_day

    def decide_day(
        self,
        atoms: pd.DataFrame,
        session_returns: pd.DataFrame,
        as_of: date,
        decisions: pd.DataFrame | None = None,
        market: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """The book decided at the close of ``as_of``, from yesterday's held over today.

        Parameters
        ----------
        atoms : DataFrame
            The ``synthesis`` rows of day D (the candidates and their streams).
        session_returns : DataFrame
            ``symbol``, ``ret``: each listing's return of session D (absent: no session).
        as_of : date
            Day D; the day before must be the previous book's day.
        decisions, market : DataFrame, optional
            As `target_weights` takes them.

        Returns
        -------
        DataFrame
            ``kind == "atom"`` rows: the atoms held or targeted (`target_weights`'s columns,
            ``held`` the drifted weight before today's trade and ``target`` the last
            rebalance's weight); ``kind == "physical"`` rows: ``symbol``, ``sleeve``,
            ``net_weight`` (the book held over D+1), ``held_weight`` (before the trade),
            ``since`` (price relative since entry, after the trade), ``gross_weight`` and
            ``n_atoms``; ``DAY_COLUMNS`` on every row (``last_session``: the last day the
            book had a session or traded, from which borrow accrues).

        Raises
        ------
        DataError
            The previous book is not from the day before ``as_of`` (a hole in the record).
        """
        if self._book is not None and self._day is not None:
            gap = (pd.Timestamp(as_of) - pd.Timestamp(self._day)).days
            if gap != 1:
                raise DataError(
                    f"allocation {as_of}: the last stored book is from {self._day}, expected "
                    f"{(pd.Timestamp(as_of) - pd.Timedelta(days=1)).date()}; run the days "
                    "between first (a track record has no holes)"
                )
        held_atoms, held_book, session = self._drifted(session_returns, as_of)
        last_target = self._atom_column("target")
        index = held_atoms.index.union(last_target.index)
        drift = float(
            (held_atoms.reindex(index, fill_value=0.0) - last_target.reindex(index, fill_value=0.0))
            .abs()
            .sum()
        )
        calendars = sorted(set(atoms["calendar"])) if len(atoms) else []
        reason = rebalance_reason(
            has_book=bool(held_atoms.abs().sum() > 0),
            calendars=calendars,
            as_of=as_of,
            step=self.step,
            drift=drift,
            tolerance=self.drift_tolerance,
            flipped=self._flipped(atoms, held_atoms),
        )
        beta = float(self._book["beta"].iloc[0]) if self._book is not None else float("nan")
        if reason and not atoms.empty:
            decided = target_weights(
                atoms,
                self.config,
                decisions,
                market,
                holdings=held_atoms,
                friction=self.friction,
            )
            atom_rows = decided.loc[decided["kind"] == "atom"].drop(
                columns=["kind", *EXPOSURE_COLUMNS, "net_weight", "gross_weight", "n_atoms"],
                errors="ignore",
            )
            atom_rows = atom_rows.assign(
                held=held_atoms.reindex(atom_rows["atom_id"]).fillna(0.0).to_numpy(),
                target=atom_rows["weight"].to_numpy(dtype="float64"),
            )
            beta = float(decided["beta"].iloc[0])
        elif self._book is None:
            return pd.DataFrame(columns=["kind", "atom_id", "symbol", "weight", "net_weight"])
        elif reason:
            # A rebalance with nothing selected: the book goes to cash.
            atom_rows = self._carried(held_atoms).assign(weight=0.0, target=0.0)
        else:
            atom_rows = self._carried(held_atoms)
        book = self._book_of(atom_rows.reset_index(drop=True), held_book, beta)
        last = as_of if session or reason or self._book is None else self._last_session()
        book = book.assign(
            rebalance=bool(reason),
            rebalance_reason=reason,
            drift=drift,
            last_session=pd.Timestamp(last),
        )
        self._book, self._day = book, as_of
        return book

    def _atom_column(self, column: str) -> pd.Series:
        """Atom -> ``column`` of the previous book's atom rows (empty without a book)."""
        if self._book is None:
            return pd.Series(dtype="float64")
        atoms = self._book.loc[self._book["kind"] == "atom"]
        return pd.Series(atoms[column].to_numpy(dtype="float64"), index=atoms["atom_id"])

    def _flipped(self, atoms: pd.DataFrame, held_atoms: pd.Series) -> int:
        """How many held atoms' side at D (``atoms``' ``sign``) differs from the side held."""
        if self._book is None or atoms.empty or "sign" not in atoms:
            return 0
        held = self._book.loc[self._book["kind"] == "atom"].set_index("atom_id")["sign"]
        held = held.loc[held_atoms.reindex(held.index).fillna(0.0).to_numpy() != 0]
        return flipped_atoms(held, atoms.drop_duplicates("atom_id").set_index("atom_id")["sign"])

    def _last_session(self) -> pd.Timestamp:
        """The last session (or trade) of the previous book."""
        return pd.Timestamp(self._book["last_session"].iloc[0])

    def _drifted(
        self, session_returns: pd.DataFrame, as_of: date
    ) -> tuple[pd.Series, Holdings, bool]:
        """Yesterday's book traded and held over today: atoms and listings at today's close."""
        if self._book is None:
            return pd.Series(dtype="float64"), Holdings.flat(), False
        physical = self._book.loc[self._book["kind"] == "physical"].set_index("symbol")
        returns = pd.Series(
            session_returns["ret"].to_numpy(dtype="float64"),
            index=session_returns["symbol"].to_numpy(),
        )
        cost = float(self._book["planned_cost"].iloc[0])
        result = hold_session(
            Holdings.of(physical["net_weight"], physical["since"]),
            returns,
            trading_cost=cost,
            borrow_bps_per_year=self.friction.borrow_rates(physical["sleeve"]),
            days=float((pd.Timestamp(as_of) - self._last_session()).days),
        )
        equity = 1.0 + result.gross - cost - result.borrow
        atoms = self._book.loc[self._book["kind"] == "atom"]
        r = returns.reindex(atoms["symbol"]).fillna(0.0).to_numpy()
        growth = (1.0 + r) / equity if equity > 0 else np.zeros(len(atoms))
        growth = np.where(atoms["symbol"].isin(result.stopped).to_numpy(), 0.0, growth)
        weights = atoms["weight"].to_numpy(dtype="float64") * growth
        held = pd.Series(weights, index=atoms["atom_id"].to_numpy(), dtype="float64")
        return held, result.after, result.session

    def _carried(self, held_atoms: pd.Series) -> pd.DataFrame:
        """Yesterday's atom rows, held: weight and ``held`` are today's drifted weights."""
        atoms = self._book.loc[self._book["kind"] == "atom"].drop(
            columns=["kind", *DAY_COLUMNS, *PHYSICAL_COLUMNS], errors="ignore"
        )
        held = held_atoms.reindex(atoms["atom_id"]).fillna(0.0).to_numpy()
        return atoms.assign(weight=held, held=held)

    def _book_of(self, atom_rows: pd.DataFrame, held: Holdings, beta: float) -> pd.DataFrame:
        """Atom rows plus the physical rows they make, the trade from ``held`` and its cost."""
        comp = atom_rows[["atom_id", *COMPOSITION]]
        physical = flatten_weights(atom_rows[["atom_id", "weight"]], comp).set_index("symbol")
        sleeves = comp.drop_duplicates("symbol").set_index("symbol")["sleeve"]
        if self._book is not None:
            old = self._book.loc[self._book["kind"] == "physical"].set_index("symbol")["sleeve"]
            sleeves = pd.concat([sleeves, old[~old.index.isin(sleeves.index)]])
        symbols = physical.index.union(held.weights.index)
        target = physical["net_weight"].reindex(symbols, fill_value=0.0)
        traded, turnover = trade_to(held, target)
        rows = pd.DataFrame(
            {
                "symbol": symbols,
                "sleeve": sleeves.reindex(symbols).to_numpy(),
                "net_weight": target.to_numpy(),
                "held_weight": held.weights.reindex(symbols, fill_value=0.0).to_numpy(),
                "since": traded.since.reindex(symbols, fill_value=1.0).to_numpy(),
                "gross_weight": physical["gross_weight"]
                .reindex(symbols, fill_value=0.0)
                .to_numpy(),
                "n_atoms": physical["n_atoms"]
                .reindex(symbols, fill_value=0)
                .astype("int64")
                .to_numpy(),
            }
        )
        book = _flags_as_boolean(
            pd.concat(
                [atom_rows.assign(kind="atom"), rows.assign(kind="physical")], ignore_index=True
            )
        )
        return book.assign(
            **exposures(target),
            beta=beta,
            planned_turnover=turnover,
            planned_cost=self.friction.cost(turnover),
        )


def _flags_as_boolean(book: pd.DataFrame) -> pd.DataFrame:
    """True/False columns blank on some rows as pandas' nullable ``boolean``.

    Atom flags (``cap_relaxed``) are blank on physical rows, which makes them ``object`` in
    memory but ``boolean`` once stored and read back: one dtype whichever way the previous book
    arrived, so a nightly run and a backfill write the same partition.
    """
    flags = {
        column: "boolean"
        for column in book.select_dtypes(include="object", exclude="str").columns
        if book[column].dropna().map(type).isin([bool, np.bool_]).all()
        and book[column].notna().any()
    }
    return book.astype(flags) if flags else book
