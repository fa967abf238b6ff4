"""The v4 selection context: the day's inputs, each stage's products and an append-only audit."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, InstanceOf, model_validator

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.params import SelectionParams

__all__ = [
    "AUDIT_COLUMNS",
    "PRODUCTS",
    "RUN_ID_PATTERN",
    "STAGE_NAMES",
    "AuditEntry",
    "SelectionContext",
    "StageClock",
]

STAGE_NAMES = ("ingestion", "features", "inference", "clustering", "policy", "synthesis")
# The context fields each stage writes; no other stage may write them.
PRODUCTS: dict[str, tuple[str, ...]] = {
    "ingestion": ("returns", "candidates"),
    "features": ("features",),
    "inference": ("inference",),
    "clustering": ("clusters",),
    "policy": ("vetoes", "policy", "ladder_stage", "ladder_counts"),
    "synthesis": ("decisions", "winners", "atoms"),
}
AUDIT_COLUMNS = ("run_id", "stage", "started", "seconds", "rows_in", "rows_out", "note", "digest")
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


def _digest(previous: str, stage: str, started: datetime, seconds: float, rows_in: int,
            rows_out: int, note: str) -> str:  # fmt: skip
    text = "\x1f".join(
        [previous, stage, started.isoformat(), repr(float(seconds)), str(rows_in),
         str(rows_out), note]
    )  # fmt: skip
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_set(value: object) -> bool:
    """A product counts as written unless it is None or an empty tuple (frames: never ==)."""
    return value is not None and not (isinstance(value, tuple) and not value)


class AuditEntry(BaseModel):
    """One stage's record: when it started, how long it took, rows in and out, a note.

    ``digest`` chains the entry to the one before it (the first to the run id): sha256 of the
    previous digest and this entry's fields. Entries are frozen; an entry edited or removed
    behind the model's back breaks the chain, which `SelectionContext` checks on every
    construction and every `SelectionContext.advance`.
    """

    model_config = _STRICT

    stage: str
    started: datetime
    seconds: float = Field(ge=0)
    rows_in: int = Field(ge=0)
    rows_out: int = Field(ge=0)
    note: str = ""
    digest: str

    def chained_to(self, previous: str) -> bool:
        """Whether ``digest`` is the hash of ``previous`` and this entry's fields."""
        return self.digest == _digest(
            previous, self.stage, self.started, self.seconds, self.rows_in, self.rows_out,
            self.note,
        )  # fmt: skip


@dataclass(frozen=True)
class StageClock:
    """Wall-clock start (UTC) and a monotonic timer for one stage."""

    started: datetime
    origin: float

    @classmethod
    def start(cls) -> StageClock:
        """Start timing now."""
        return cls(datetime.now(UTC), time.perf_counter())

    def seconds(self) -> float:
        """Seconds since the start."""
        return max(0.0, time.perf_counter() - self.origin)


class SelectionContext(BaseModel):
    """Everything the v4 stages know about one day, passed from stage to stage.

    The model is frozen: a stage never writes into a context, it returns a new one through
    `advance`, which appends the stage's `AuditEntry` and sets only the fields the stage owns
    (``PRODUCTS``). Frames are shared between successive contexts, never copied; stages treat
    them as read-only (every domain function returns a new frame).

    Attributes
    ----------
    run_id : str
        Identifies the run (letters, digits, ``_ . : -``); the audit chain starts from it.
    params : SelectionParams
        The selection parameters (those ``htr_3_4`` reads, and v4's own ``params.v4``).
    returns : DataFrame
        Dates x symbols, daily simple returns (ingestion: sorted by date).
    candidates : DataFrame
        The day's candidates (ingestion: checked, RangeIndex).
    features : DataFrame or None
        The feature store: `build_features` (features stage).
    inference : DataFrame or None
        Inference outputs: every ``p_<metric>`` and ``score``, the Log-MPS conviction.
    clusters : Series or None
        Each candidate's cluster (-1 without one), index of ``candidates``.
    vetoes : DataFrame or None
        `veto_table` at the strict thresholds (policy stage).
    policy : DataFrame or None
        Each candidate's ``score``, ``selected``, ``stage`` and ``reason`` (policy stage).
    ladder_stage : int or None
        Where the relaxation ladder stopped; ``ladder_counts`` the winners after each stage.
    decisions : DataFrame or None
        `select`'s output table with ``engine = "v4"`` (synthesis stage).
    winners : DataFrame or None
        `winners_table` of the decisions.
    atoms : DataFrame or None
        One row per selected strategy atom: ``atom_id``, ``symbol``, ``logic``,
        ``direction``, ``sign``.
    audit : tuple of AuditEntry
        One entry per stage run, in order (append-only).
    """

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, arbitrary_types_allowed=True
    )

    run_id: str = Field(pattern=RUN_ID_PATTERN, max_length=200)
    params: InstanceOf[SelectionParams]
    # Frames are left out of the repr: an error message stays one readable line.
    returns: InstanceOf[pd.DataFrame] = Field(repr=False)
    candidates: InstanceOf[pd.DataFrame] = Field(repr=False)
    features: InstanceOf[pd.DataFrame] | None = Field(None, repr=False)
    inference: InstanceOf[pd.DataFrame] | None = Field(None, repr=False)
    clusters: InstanceOf[pd.Series] | None = Field(None, repr=False)
    vetoes: InstanceOf[pd.DataFrame] | None = Field(None, repr=False)
    policy: InstanceOf[pd.DataFrame] | None = Field(None, repr=False)
    ladder_stage: int | None = None
    ladder_counts: tuple[int, ...] = ()
    decisions: InstanceOf[pd.DataFrame] | None = Field(None, repr=False)
    winners: InstanceOf[pd.DataFrame] | None = Field(None, repr=False)
    atoms: InstanceOf[pd.DataFrame] | None = Field(None, repr=False)
    audit: tuple[AuditEntry, ...] = ()

    @model_validator(mode="after")
    def _audited(self) -> SelectionContext:
        self.verify_audit()
        return self

    def stages_run(self) -> list[str]:
        """Names of the stages in the audit trail, in order."""
        return [entry.stage for entry in self.audit]

    def verify_audit(self) -> None:
        """Check the audit chain and that every product was written by an audited stage.

        Raises
        ------
        DataError
            An entry whose digest does not chain (edited, removed or reordered), or a product
            field set without an audit entry of the stage that owns it.
        """
        previous = self.run_id
        for position, entry in enumerate(self.audit):
            if not entry.chained_to(previous):
                raise DataError(
                    f"v4 context {self.run_id}: audit trail broken at entry {position} "
                    f"({entry.stage}): digest does not chain to the entry before it"
                )
            previous = entry.digest
        run = set(self.stages_run())
        for stage, fields in PRODUCTS.items():
            if stage == "ingestion":
                continue  # the raw inputs are given at the start
            written = [name for name in fields if _is_set(getattr(self, name))]
            if written and stage not in run:
                raise DataError(
                    f"v4 context {self.run_id}: {written} set without a {stage} audit entry"
                )

    def require(self, stage: str, upstream: tuple[str, ...]) -> None:
        """Refuse to run ``stage`` on an altered trail or before the stages it reads.

        Raises
        ------
        DataError
            The audit trail is broken (`verify_audit`), or an upstream stage has no entry.
        """
        self.verify_audit()
        missing = [name for name in upstream if name not in self.stages_run()]
        if missing:
            raise DataError(
                f"v4 {stage}: needs the output of {missing} first (stages run: {self.stages_run()})"
            )

    def advance(
        self,
        stage: str,
        clock: StageClock,
        rows_in: int,
        rows_out: int,
        note: str,
        **products: object,
    ) -> SelectionContext:
        """A new context with ``products`` set and the stage's entry appended to the audit.

        ``self`` is left unchanged. The new entry's digest chains to the last one.

        Parameters
        ----------
        stage : str
            A name of ``STAGE_NAMES``.
        clock : StageClock
            Started when the stage began.
        rows_in, rows_out : int
            Rows the stage read and wrote.
        note : str
            One line on what the stage did.
        **products
            Fields of ``PRODUCTS[stage]``.

        Returns
        -------
        SelectionContext
            The next context.

        Raises
        ------
        DataError
            Unknown stage, a field the stage does not own, or a broken audit trail.
        """
        if stage not in PRODUCTS:
            raise DataError(f"v4 context: unknown stage {stage!r} (known: {STAGE_NAMES})")
        foreign = sorted(set(products) - set(PRODUCTS[stage]))
        if foreign:
            raise DataError(f"v4 {stage}: may not write {foreign} (owns {PRODUCTS[stage]})")
        self.verify_audit()  # a trail altered behind the frozen model (model_copy, setattr)
        seconds, rows_in, rows_out = clock.seconds(), int(rows_in), int(rows_out)
        previous = self.audit[-1].digest if self.audit else self.run_id
        entry = AuditEntry(
            stage=stage,
            started=clock.started,
            seconds=seconds,
            rows_in=rows_in,
            rows_out=rows_out,
            note=note,
            digest=_digest(previous, stage, clock.started, seconds, rows_in, rows_out, note),
        )
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**(fields | products | {"audit": (*self.audit, entry)}))

    def audit_record(self) -> dict[str, object]:
        """The audit trail as JSON-native values, the copy the shell's ledger keeps.

        Returns
        -------
        dict
            ``run_id``; ``digest`` (the last entry's, the run id before any stage);
            ``entries``: one dict per entry with the fields of `AuditEntry`, ``started`` as the
            ISO text the digest hashed, so a reader can re-chain them
            (``AuditEntry.model_validate(entry, strict=False).chained_to(previous)``).

        Raises
        ------
        DataError
            The trail was altered (see `verify_audit`).
        """
        self.verify_audit()
        entries = [
            entry.model_dump() | {"started": entry.started.isoformat()} for entry in self.audit
        ]
        digest = self.audit[-1].digest if self.audit else self.run_id
        return {"run_id": self.run_id, "digest": digest, "entries": entries}

    def audit_frame(self) -> pd.DataFrame:
        """The audit trail as a frame, one row per entry (``AUDIT_COLUMNS``)."""
        rows = [{"run_id": self.run_id, **entry.model_dump()} for entry in self.audit]
        frame = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
        return frame.astype({"seconds": "float64", "rows_in": "int64", "rows_out": "int64"})
