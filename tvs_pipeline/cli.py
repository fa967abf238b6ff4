"""The ``tvs`` command: run, backfill, query and inspect the pipeline."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import date

import pandas as pd

from tvs_pipeline import __version__
from tvs_pipeline.config import list_profiles, load_profile, resolved_to_yaml
from tvs_pipeline.config.schema import ResolvedProfile
from tvs_pipeline.errors import ConfigError, DataError, OptimizationError, SourceError
from tvs_pipeline.messages import describe_error
from tvs_pipeline.settings import Settings, load_settings

__all__ = ["main"]

DESCRIPTION = (
    "Run, backfill, query and inspect the tvs_pipeline portfolio pipeline "
    "(state under $TVS_HOME, default ./data)."
)

# Failures a command names itself (exit 2): ours, and the system's (a disk, a store, a path).
KNOWN_ERRORS = (ConfigError, DataError, SourceError, OptimizationError, OSError)
INTERRUPTED = 130
BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader (`| head`) stopped reading
NUMBER_TEXT = re.compile(r"^([-+]?[\d,]+(\.\d+)?( %| bps)?|n/a)$")  # right-justified
ZERO_WEIGHT = 5e-5  # a weight that prints as +0.00 % is left out of the summary


class CommandError(Exception):
    """A command-line problem reported as one line with a non-zero exit."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (raised, so that `main` prints them)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise the problem as a CommandError naming the command and its help."""
        raise CommandError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _count(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, found {text!r}")
    return value


def _port(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, found {text!r}")
    return value


def _rows(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, found {text!r}")
    return value


def _check_run_options(
    args: argparse.Namespace, settings: Settings, profile: ResolvedProfile
) -> str:
    """Refuse, before anything is written, the options the run would refuse; return the source.

    Raises
    ------
    CommandError
        The demo market is asked for fewer listings than it can build.
    """
    source = args.source or settings.source or profile.source
    if source == "demo":
        from tvs_pipeline.market.demo.market import MIN_SCALE

        if args.scale < MIN_SCALE:
            raise CommandError(
                f"--scale {args.scale}: the demo market needs at least {MIN_SCALE} listings"
            )
    return source


def _check_day(text: str | None, first: str, last: str) -> str:
    if text is None:
        return last
    try:
        day = date.fromisoformat(text).isoformat()
    except ValueError as err:
        raise CommandError(f"date {text!r}: expected YYYY-MM-DD") from err
    if not first <= day <= last:
        raise CommandError(f"date {day}: outside the partitions {first}..{last}")
    return day


def _execute(
    settings: Settings, args: argparse.Namespace, job: str = "nightly", **run: object
) -> str:
    from tvs_pipeline.defs.runner import run_job

    outcome = run_job(
        settings, job, profile=args.profile, source=args.source or "", scale=args.scale, **run
    )
    if not outcome.success:
        raise CommandError(f"{job} run {outcome.run_id[:8]} failed at {outcome.failure}")
    return outcome.run_id


def _prepare_home(settings: Settings) -> None:
    """Set the instance up once every argument is checked (a bad home fails before a run)."""
    from tvs_pipeline.defs.runner import prepare_instance

    prepare_instance(settings)


def partition_bounds() -> tuple[str, str]:
    """The first and latest complete partition keys."""
    from tvs_pipeline.defs.runner import partition_bounds as bounds

    return bounds()


def cmd_run(args: argparse.Namespace) -> int:
    """Materialise the nightly job for one day and print the funnel summary."""
    settings = load_settings()
    profile = load_profile(args.profile or settings.profile)
    source = _check_run_options(args, settings, profile)
    first, last = partition_bounds()
    day = _check_day(args.date, first, last)
    _prepare_home(settings)
    print(f"tvs run {day} · profile {profile.name} · source {source}", file=sys.stderr)
    started = time.perf_counter()
    run_id = _execute(settings, args, partition_key=day)
    print("shadow (challenger) for the same day:", file=sys.stderr)
    _execute(settings, args, "shadow", partition_key=day, tags={"tvs/champion_run_id": run_id})
    _nightly_tournament(settings, args, profile, day)
    elapsed = time.perf_counter() - started
    print(render_summary(settings, date.fromisoformat(day), run_id, elapsed))
    return 0


def _nightly_tournament(settings, args: argparse.Namespace, profile, day: str) -> None:
    """The profile's tournament grid as of ``day``, once the lake holds two rebalance dates.

    Its books of earlier dates come from the last stored tournament, so a night decides at
    most the new date's (`tournament_books`); the sensor does the same after scheduled runs.
    """
    from tvs_pipeline.defs.assets.tournament import tournament_skip_reason
    from tvs_pipeline.lake.catalog import LakeReader

    skip = tournament_skip_reason(LakeReader(settings.lake_root), profile, date.fromisoformat(day))
    if skip:
        print(f"tournament: skipped, {skip}", file=sys.stderr)
        return
    grid = profile.tournament.grid
    print(f"tournament (grid {grid}) as of the same day:", file=sys.stderr)
    try:
        _execute(settings, args, "tournament", partition_key=day)
    except CommandError as err:
        # Research beside the night's book: the champion and shadow runs stand (their outcome
        # and the tournament's are in the ledger); say it and go on to the summary.
        print(f"tvs: warning: {err} (the nightly and shadow runs succeeded)", file=sys.stderr)


def cmd_backfill(args: argparse.Namespace) -> int:
    """Fill a range of days: one run per path, or an asset backfill in runs of K days."""
    settings = load_settings()
    _check_run_options(args, settings, load_profile(args.profile or settings.profile))
    first, last = partition_bounds()
    start, end = _check_day(args.start, first, last), _check_day(args.end, first, last)
    if start > end:
        raise CommandError(f"backfill: start {start} is after end {end}")
    chunk_days = settings.chunk_days if args.chunk_days is None else args.chunk_days
    if chunk_days < 0:
        raise CommandError(f"backfill: --chunk-days {chunk_days}: expected an integer >= 0")
    if chunk_days:
        return _chunked_backfill(settings, args, start, end, chunk_days)
    _prepare_home(settings)
    print(f"tvs backfill {start}..{end} as one run", file=sys.stderr)
    started = time.perf_counter()
    # The champion first: the challenger's parity reads both paths.
    run_id = _execute(settings, args, partition_range=(start, end))
    print("shadow (challenger) over the same range:", file=sys.stderr)
    _execute(settings, args, "shadow", partition_range=(start, end))
    days = (date.fromisoformat(end) - date.fromisoformat(start)).days + 1
    print(
        f"backfilled {days} days in one run per path (champion {run_id[:8]}, then challenger) "
        f"in {time.perf_counter() - started:.1f}s; lake: {settings.lake_root}"
    )
    return 0


def _chunked_backfill(
    settings: Settings, args: argparse.Namespace, start: str, end: str, chunk_days: int
) -> int:
    """Both paths as asset backfills of ``chunk_days``-day runs, run by the daemon (runbook §9)."""
    from tvs_pipeline.defs.backfill import run_chunked_backfill

    if args.profile or args.source or args.scale != 300:
        raise CommandError(
            "backfill --chunk-days: the daemon's runs use the code location's profile, source "
            "and scale (TVS_PROFILE, TVS_SOURCE, the demo's 300 listings); drop --profile, "
            "--source and --scale"
        )
    print(f"tvs backfill {start}..{end} in runs of {chunk_days} days", file=sys.stderr)
    started = time.perf_counter()
    outcomes = run_chunked_backfill(settings, start, end, chunk_days)
    runs = sum(len(outcome.runs) for outcome in outcomes)
    ids = ", ".join(outcome.backfill_id for outcome in outcomes)
    # What the daemon did, read from its runs (a daemon already running used its own K).
    most = max((outcome.chunk_days for outcome in outcomes), default=0)
    print(
        f"backfilled {start}..{end} as {runs} runs (chunks of up to {most} days) in backfills "
        f"{ids} in {time.perf_counter() - started:.1f}s; lake: {settings.lake_root}"
    )
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Run a SELECT statement over the lake (views built per query, reads confined to the lake).

    At most ``--max-rows`` rows are printed (0: all); how many were left out is said on stderr.
    """
    from tvs_pipeline.lake.catalog import query_lake

    settings = load_settings()
    frame = query_lake(settings.lake_root, args.query)
    if not len(frame):
        print("(no rows)")
        return 0
    shown = frame if args.max_rows == 0 else frame.head(args.max_rows)
    print(plain_table(shown))
    if len(shown) < len(frame):
        left = len(frame) - len(shown)
        print(
            f"({len(shown):,} of {len(frame):,} rows shown, {left:,} left out; "
            "--max-rows N shows more, --max-rows 0 all)",
            file=sys.stderr,
        )
    return 0


def plain_table(frame: pd.DataFrame) -> str:
    """A frame as aligned text: text left-justified, numbers right-justified, no index.

    Whole numbers in a float column (``225.0``) print without decimals.
    """
    if frame.empty:
        return "(no rows)"
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if (
            pd.api.types.is_datetime64_any_dtype(values)
            and (values.dropna().dt.normalize() == values.dropna()).all()
        ):
            cells = ["" if pd.isna(v) else v.date().isoformat() for v in values]
        elif pd.api.types.is_float_dtype(values) and _whole(values):
            cells = [("" if pd.isna(v) else f"{int(v)}") for v in values]
        elif pd.api.types.is_float_dtype(values):
            cells = [("" if pd.isna(v) else f"{v:.6g}") for v in values]
        else:
            cells = ["" if v is None or (not isinstance(v, list | dict) and pd.isna(v)) else
                     str(v) for v in values.tolist()]  # fmt: skip
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        numeric = numeric or all(NUMBER_TEXT.match(cell) for cell in cells)  # "1.62 %"
        columns[str(name)] = (cells, numeric)
    widths = {name: max([len(name), *map(len, cells)]) for name, (cells, _) in columns.items()}
    last = list(columns)[-1]

    def cell(name: str, text: str) -> str:
        if columns[name][1]:
            return text.rjust(widths[name])
        return text if name == last else text.ljust(widths[name])

    lines = ["  ".join(cell(name, name) for name in columns).rstrip()]
    for row in range(len(frame)):
        lines.append(
            "  ".join(cell(name, cells[row]) for name, (cells, _) in columns.items()).rstrip()
        )
    return "\n".join(lines)


def _whole(values: pd.Series) -> bool:
    """Whether every finite value of a float column is a whole number."""
    finite = values.dropna()
    finite = finite[finite.abs() < 2**53]
    return len(finite) == values.notna().sum() and bool((finite == finite.round()).all())


WORKSPACE_YAML = """\
# Written by `tvs ui`: the code location the UI loads (the repository's workspace.yaml).
load_from:
  - python_module:
      module_name: tvs_pipeline.definitions
      attribute: defs
      location_name: tvs_pipeline
"""


def _check_bind(host: str, port: int) -> None:
    """Fail in one line when ``host:port`` cannot be served (in use, not this machine's).

    Dagster's webserver would log the bind error and leave its daemon running: `tvs ui`
    would then neither serve nor exit.
    """
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except (OSError, OverflowError) as err:
        # create_server appends "(while attempting to bind on address …)": the line says it
        cause = (getattr(err, "strerror", None) or str(err)).split(" (while attempting")[0]
        raise CommandError(f"tvs ui: cannot serve on {host}:{port}: {cause}") from err


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI and its daemon on the instance `tvs` runs on; Ctrl-C stops them.

    ``dagster dev`` runs with ``DAGSTER_HOME=$TVS_HOME/dagster`` from that directory (so no
    other dagster.yaml is in sight), a workspace written beside it, and Dagster's notices
    that ``dg dev`` supersedes ``dagster dev`` silenced.
    """
    import subprocess

    from tvs_pipeline.defs.runner import prepare_instance

    settings = load_settings()
    _check_bind(args.host, args.port)
    home = prepare_instance(settings)
    workspace = home / "workspace.yaml"
    if not workspace.exists() or workspace.read_text(encoding="utf-8") != WORKSPACE_YAML:
        workspace.write_text(WORKSPACE_YAML, encoding="utf-8")
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore::FutureWarning"]))
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONWARNINGS": warnings}
    command = [sys.executable, "-m", "dagster", "dev", "-h", args.host, "-p", str(args.port)]
    print(
        f"tvs ui: http://{args.host}:{args.port} on the instance {home} (Ctrl-C stops it)",
        file=sys.stderr,
        flush=True,
    )
    import signal

    child = subprocess.Popen(
        [*command, "-w", str(workspace)],
        cwd=home,
        env=env,
        # Started in the background by a shell, a process inherits SIGINT ignored, and dagster
        # dev maps SIGTERM onto its SIGINT handler: give it the default back so both stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # A SIGTERM to `tvs ui` stops dagster dev (and its servers) the same way.
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signal.SIGTERM))
    try:
        return child.wait()
    except KeyboardInterrupt:  # the same Ctrl-C reaches dagster dev, which stops
        child.wait()
        return INTERRUPTED


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print the fully resolved profile."""
    print(resolved_to_yaml(load_profile(args.profile)), end="")
    return 0


def cmd_config_list(args: argparse.Namespace) -> int:
    """List the shipped profiles."""
    print("\n".join(list_profiles()))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Print the data_health table of a day, worst first, with counts per status and sleeve."""
    from tvs_pipeline.lake.catalog import LakeReader

    asked = _check_day(args.date, "0000-00-00", "9999-99-99") if args.date else None
    settings = load_settings()
    reader = LakeReader(settings.lake_root)
    latest = reader.read("data_health", columns="max(date) as d")
    if latest is None or latest["d"].isna().all():
        raise CommandError("health: no data_health partition yet (run `tvs run` first)")
    day = asked or pd.Timestamp(latest["d"].iloc[0]).date().isoformat()
    table = reader.read("data_health", where="date = ?", params=[date.fromisoformat(day)])
    if table is None or table.empty:
        raise CommandError(f"health: no data_health partition for {day}")
    counts = table.pivot_table(
        index="sleeve", columns="status", values="symbol", aggfunc="count", fill_value=0
    )
    print(f"data_health {day}: {len(table)} listings")
    print(plain_table(counts.reset_index().rename_axis(columns=None)))
    print()
    cols = ["symbol", "sleeve", "status", "reason"]
    print(plain_table(table.sort_values(["severity", "symbol"])[cols]))
    return 0


def cmd_calibrate_regime(args: argparse.Namespace) -> int:
    """Calibrate the regime detector on the lake's universe panel and write a profile overlay.

    The panel is the ``normalization`` partition of the day (the OK listings over the
    lookback). The objective is the demo market's true regime chain on the demo source
    (balanced accuracy), else the forward-volatility rank correlation (methodology, regime).
    A reading needs about 290 sessions of history, so a 500-day lookback leaves few sessions
    to score: calibrate under a profile with a long ``run.lookback_days`` (e.g. 2000).
    """
    from pathlib import Path

    from tvs_pipeline.allocation.calibration import (
        calibrate_regime,
        forward_volatility_objective,
        write_regime_overlay,
    )
    from tvs_pipeline.funnel.normalization import wide_returns
    from tvs_pipeline.lake.catalog import LakeReader
    from tvs_pipeline.market.demo import DemoMarket

    settings = load_settings()
    name = args.profile or settings.profile
    profile = load_profile(name)
    reader = LakeReader(settings.lake_root)
    latest = reader.read("normalization", columns="max(date) as d")
    if latest is None or latest["d"].isna().all():
        raise CommandError("calibrate-regime: no normalization partition yet (run `tvs run`)")
    day = args.date or pd.Timestamp(latest["d"].iloc[0]).date().isoformat()
    day = _check_day(day, "0000-00-00", "9999-99-99")
    panel = reader.read("normalization", where="date = ?", params=[date.fromisoformat(day)])
    if panel is None or panel.empty:
        raise CommandError(f"calibrate-regime: no normalization partition for {day}")
    returns = wide_returns(panel.drop(columns=["date"], errors="ignore"))
    source = args.source or settings.source or profile.source
    objective = (
        DemoMarket(seed=profile.seed).regimes()
        if source == "demo"
        else forward_volatility_objective(returns)
    )
    started = time.perf_counter()
    result = calibrate_regime(
        returns, objective, folds=args.folds, n_trials=args.trials, seed=args.seed,
        base=profile.allocation.regime,
    )  # fmt: skip
    out = Path(args.out)
    if not out.exists() and not Path(name).suffix:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"base: {name}\n", encoding="utf-8")  # the overlay extends the profile
    write_regime_overlay(result.thresholds, out)
    what = "balanced accuracy vs the demo's true regimes" if source == "demo" else "forward-vol tau"
    print(
        f"regime calibration on {returns.shape[1]} listings up to {day} "
        f"({args.folds} folds x {args.trials} trials, {time.perf_counter() - started:.0f} s)"
    )
    print(f"  out-of-fold {what}: {result.score:.3f}")
    print(f"  overlay: {out} (use it with --profile {out})")
    return 0


def cmd_tournament(args: argparse.Namespace) -> int:
    """Run the walk-forward tournament as of a day and print its leaderboard."""
    from tvs_pipeline.defs.assets.tournament import GRID_TAG, START_TAG, leaderboard_markdown
    from tvs_pipeline.lake.catalog import LakeReader

    settings = load_settings()
    profile = load_profile(args.profile or settings.profile)
    first, last = partition_bounds()
    end = _check_day(args.end, first, last)
    tags = {}
    if args.start:
        start = _check_day(args.start, first, last)
        if start > end:
            raise CommandError(f"tournament: start {start} is after end {end}")
        tags[START_TAG] = start
    grid = args.grid or profile.tournament.grid
    if grid not in profile.tournament.grids:
        raise CommandError(
            f"tournament: grid {grid!r} is not one of {sorted(profile.tournament.grids)}"
        )
    tags[GRID_TAG] = grid
    print(f"tvs tournament as of {end} · grid {grid} · profile {profile.name}", file=sys.stderr)
    started = time.perf_counter()
    run_id = _execute(settings, args, "tournament", partition_key=end, tags=tags)
    board = LakeReader(settings.lake_root).read("tournament", where="date = ?", params=[end])
    span = f"{board['start'].iloc[0].date()}..{end}" if len(board) else end
    print(
        f"tournament {run_id[:8]} over {span}, grid {grid}: {len(board)} rows in "
        f"{time.perf_counter() - started:.0f} s; probability of backtest overfitting "
        f"{board['pbo'].dropna().iloc[0] if board['pbo'].notna().any() else float('nan'):.2f}"
    )
    print(leaderboard_markdown(board))
    regimes = LakeReader(settings.lake_root).read(
        "tournament_regimes", where="date = ? and proposed", params=[end]
    )
    if regimes is not None and len(regimes):
        print(
            "\nproposed `allocation.regime_profiles` for `profile: auto` (returns out of "
            "sample, the choice in sample: the best cell on the very sessions it is scored "
            "on, deflated for the trials; confirm it on later sessions):"
        )
        for row in regimes.sort_values("regime").itertuples():
            print(
                f"  {row.regime.lower()}: {row.profile}   # {row.strategy}, {row.sessions} "
                f"sessions, deflated Sharpe {row.deflated_sharpe:.2f}"
            )
    if len(board):
        first = board["start"].iloc[0].date()
        page = settings.reports_dir / "tournament" / f"{first}_{end}_{grid}" / "index.html"
        print(f"\nreport: {page}")
    return 0


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    """Re-walk the audit ledger; exit 1 and name the first broken record if it is tampered.

    With ``--lake``, also compare every partition file with the sha256 of its latest output
    record and name each mismatch, each file with no record and each record whose file is
    missing (exit 1 on any); ``--rehash`` hashes every file instead of trusting the stamps of
    files unchanged since they were last hashed.
    """
    from tvs_pipeline.lake.custody import LakeCustody
    from tvs_pipeline.lake.ledger import ledger_exists, verify_ledger

    settings = load_settings()
    path = settings.ledger  # the file under $TVS_HOME, or $TVS_LEDGER (PostgreSQL)
    if not ledger_exists(path):
        raise CommandError(f"ledger verify: no ledger at {path} yet (run `tvs run` first)")
    verdict = verify_ledger(path)
    print(verdict)
    if not args.lake:
        return 0 if verdict.ok else 1
    if verdict.broken_at is not None:
        print("lake not checked: the ledger's chain is broken")
        return 1
    lake = LakeCustody(path, settings.lake_root).verify(rehash=args.rehash)
    print(lake)
    return 0 if verdict.ok and lake.ok else 1


def cmd_ledger_repair(args: argparse.Namespace) -> int:
    """Repair what a crash leaves and can be repaired safely; exit 1 if the chain is broken.

    A torn tail is moved aside with a ``repair`` record; the lake index is rebuilt from the
    ledger (every file is hashed again on its next check); the writes never followed by their
    output record are reconciled, except those of a process still running on this host (run
    it while no run is in progress on another host). A record broken in the middle of the
    chain is not repaired: its line is named (restore the ledger from a copy).
    """
    from tvs_pipeline.lake.custody import LakeCustody
    from tvs_pipeline.lake.ledger import ledger_exists, repair_tail, verify_ledger

    settings = load_settings()
    path = settings.ledger
    if not ledger_exists(path):  # nothing to repair: do not create one
        raise CommandError(f"ledger repair: no ledger at {path} yet (run `tvs run` first)")
    verdict = verify_ledger(path)
    if verdict.broken_at is not None:
        print(verdict)
        print("not repaired: a broken record in the chain is not a crash artefact")
        return 1
    repair = repair_tail(path)
    if repair is not None:
        payload = repair["payload"]
        print(
            f"moved a torn tail of {payload['bytes']} bytes aside to {payload['moved_to']} "
            f"(record {repair['seq']})"
        )
    custody = LakeCustody(path, settings.lake_root)
    custody.rebuild()
    for record in custody.reconcile(force=True):
        payload = record["payload"]
        outcomes = [entry["outcome"] for entry in payload["files"].values()]
        counts = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))
        print(
            f"reconciled the unfinished write of {payload['asset']} by run "
            f"{payload['run_id']} (record {payload['write']}): {counts or 'no file'}"
        )
    print(f"lake index rebuilt from the ledger: {custody.path}")
    print(verify_ledger(path))
    return 0


def cmd_promotion(args: argparse.Namespace) -> int:
    """Print the promotion report: the challenger against the champion over the last 20 days."""
    from tvs_pipeline.lake.catalog import LakeReader

    asked = _check_day(args.date, "0000-00-00", "9999-99-99") if args.date else None
    reader = LakeReader(load_settings().lake_root)
    latest = reader.read("promotion_report", columns="max(date) as d")
    if latest is None or latest["d"].isna().all():
        raise CommandError("promotion: no promotion_report partition yet (run `tvs run` first)")
    day = pd.Timestamp(asked or latest["d"].iloc[0]).date()
    table = reader.read("promotion_report", where="date = ?", params=[day])
    if table is None or table.empty:
        raise CommandError(f"promotion: no promotion_report partition for {day}")
    print(
        f"promotion report {day} (last 20 days of parity and of both out-of-sample track records)"
    )
    shown = table.drop(columns=["date"])
    for column in ("mean_jaccard", "total_return", "mean_turnover"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "n/a" if pd.isna(v) else percent(v))
    for column in ("sharpe", "cost_bps"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "n/a" if pd.isna(v) else f"{v:.2f}")
    print(plain_table(shown))
    return 0


# role -> (its track-record table, its allocation table)
REPORT_TABLES = {
    "champion": ("simulation", "allocation"),
    "challenger": ("simulation_challenger", "allocation_challenger"),
}


def cmd_report(args: argparse.Namespace) -> int:
    """Render the out-of-sample tear sheet of a role's track record; print its headline.

    The range defaults to the whole record. The page and its charts go to
    ``$TVS_HOME/reports/<role>/<start>_<end>/``; the last line printed is the page's path.
    No track record in the range prints one line and exits 1.
    """
    from tvs_pipeline.lake.catalog import LakeReader
    from tvs_pipeline.simulation.report import survivorship_caveat, survivorship_days
    from tvs_pipeline.simulation.tearsheet import headline_rows, render_tearsheet

    settings = load_settings()
    profile = load_profile(args.profile or settings.profile)
    track, books = REPORT_TABLES[args.role]
    start = _check_day(args.start, "0000-00-00", "9999-99-99") if args.start else None
    end = _check_day(args.end, "0000-00-00", "9999-99-99") if args.end else None
    if start and end and start > end:
        raise CommandError(f"report: start {start} is after end {end}")
    reader = LakeReader(settings.lake_root)
    bounds = reader.read(track, columns="min(date) as first, max(date) as last")
    if bounds is None or bounds["first"].isna().all():
        print(f"tvs: error: report: no {args.role} track record yet (table {track} is empty; "
              "run `tvs run` or `tvs backfill`)", file=sys.stderr)  # fmt: skip
        return 1
    first, last = (pd.Timestamp(bounds[c].iloc[0]).date().isoformat() for c in ("first", "last"))
    start, end = start or first, end or last
    ledger = reader.read_days(track, date.fromisoformat(start), date.fromisoformat(end))
    # A range of non-session days only (a weekend of an equity book) has no record either.
    if ledger is None or ledger.empty or ("session" in ledger and not ledger["session"].any()):
        print(f"tvs: error: report: no {args.role} session in {start}..{end} "
              f"(table {track} holds {first}..{last})", file=sys.stderr)  # fmt: skip
        return 1
    weights = reader.read(
        books,
        where="date between ? and ? and kind = 'physical'",
        params=[date.fromisoformat(start), date.fromisoformat(end)],
        columns="date, symbol, net_weight",
    )
    sessions = ledger.loc[ledger["session"].to_numpy(dtype=bool, na_value=False), "date"]
    first_session, last_session = sessions.min().date(), sessions.max().date()
    # A lake written before discovery recorded `point_in_time` has no rebuilt day.
    schema = reader.read("discovery", where="false")
    rebuilt = []
    if schema is not None and "point_in_time" in schema:
        discovered = reader.read(
            "discovery",
            columns="distinct date, point_in_time",
            where="date between ? and ?",
            params=[first_session, last_session],
        )
        rebuilt = survivorship_days(discovered, first_session, last_session)
    caveat = survivorship_caveat(rebuilt)
    sheet = render_tearsheet(
        ledger,
        weights,
        title=f"{args.role} ({profile.name} profile)",
        directory=settings.reports_dir / args.role / f"{start}_{end}",
        caveat=caveat,
    )
    print(
        f"{args.role} ({profile.name} profile): out-of-sample track record, "
        f"{first_session} to {last_session}, net of costs"
    )
    if caveat:
        print(f"caveat: {caveat}")
    rows = headline_rows(sheet.headline)
    width = max(len(label) for label, _ in rows)
    print("\n".join(f"  {label:<{width}}  {value:>10}" for label, value in rows))
    print(sheet.html)
    return 0


def _leaderboard_lines(reader, day: date, rows: int = 3) -> list[str]:
    """The top rows of the latest tournament up to ``day`` (none when there is none)."""
    latest = reader.read("tournament", columns="max(date) as d", where="date <= ?", params=[day])
    if latest is None or latest["d"].isna().all():
        return []
    as_of = pd.Timestamp(latest["d"].iloc[0]).date()
    board = reader.read("tournament", where="date = ?", params=[as_of])
    board = board.loc[board["simulator"] == "vectorized"].head(rows)
    lines = [
        "",
        f"tournament as of {as_of} (grid {board['grid'].iloc[0]}, out of sample; "
        f"probability of backtest overfitting {board['pbo'].iloc[0]:.2f}):",
    ]
    lines += [
        f"  {row.strategy:<34} sharpe {row.sharpe:5.2f} · deflated {row.deflated_sharpe:.2f}"
        for row in board.itertuples()
    ]
    return lines


def percent(value: float, *, signed: bool = False) -> str:
    """A fraction as a percentage with two decimals and a space: ``0.01615`` -> ``1.62 %``."""
    return f"{value * 100:{'+' if signed else ''}.2f} %"


def _timescale(row: object) -> str:
    """An atom's or candidate's timescale in sessions as text (``?`` when it has none)."""
    value = getattr(row, "timescale", None)
    return "?" if value is None or pd.isna(value) else str(int(value))


def render_summary(settings: Settings, day: date, run_id: str, elapsed: float) -> str:
    """The funnel at a glance after a run: counts per stage, winners, weights, where things are."""
    from tvs_pipeline.lake.catalog import LakeReader

    reader = LakeReader(settings.lake_root)
    where, params = "date = ?", [day]

    def read(asset: str) -> pd.DataFrame:
        frame = reader.read(asset, where=where, params=params)
        return frame if frame is not None else pd.DataFrame()

    discovery, health, dedup = read("discovery"), read("data_health"), read("dedup")
    parity = read("selection_parity")
    selection, allocation, report = (
        read("selection"),
        read("allocation"),
        read("performance_report"),
    )
    selected = selection.loc[selection["selected"]] if len(selection) else selection
    funnel = [
        ("discovered rows", len(discovery)),
        ("unique listings", discovery["symbol"].nunique() if len(discovery) else 0),
        ("healthy (OK)", int((health["status"] == "OK").sum()) if len(health) else 0),
        ("unique identities", len(dedup)),
        ("selected", len(selected)),
    ]
    lines = [f"run {run_id[:8]} for {day} finished in {elapsed:.1f}s", "", "funnel:"]
    lines += [f"  {name:<18} {count:>5}" for name, count in funnel]
    if len(health):
        statuses = health["status"].value_counts().to_dict()
        lines.append("  health: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    if len(selected):
        lines += ["", "selected (logic / timescale in sessions):"]
        keys = [k for k in ("sleeve", "logic", "direction", "rank") if k in selected.columns]
        for row in selected.sort_values(keys).itertuples():
            logic = f"{getattr(row, 'logic', '')}/{_timescale(row)}"
            lines.append(
                f"  {row.symbol:<24} {row.sleeve:<10} {logic:<17} {row.direction:<5} "
                f"score {row.score:+.3f}"
            )
    if len(parity):
        row = parity.iloc[0]
        verdict = "agree" if row["passed"] else f"DIFFER ({row['reasons']})"
        lines += [
            "",
            f"parity {row['champion_engine']} vs {row['challenger_engine']} (challenger in "
            f"shadow): jaccard {row['jaccard']:.2f}, spearman {row['spearman']:.2f}, "
            f"weight L1 {row['weight_l1']:.2f} -> {verdict}",
        ]
    atoms = allocation.loc[allocation["kind"] == "atom"] if len(allocation) else allocation
    if len(atoms) and "logic" in atoms.columns:
        by_logic = atoms.assign(scale=[_timescale(row) for row in atoms.itertuples()])
        by_logic = by_logic.groupby(["logic", "scale"], sort=True)["weight"].sum()
        lines += [
            "",
            "atom weights by logic / timescale: "
            + ", ".join(f"{logic}/{scale} {percent(w)}" for (logic, scale), w in by_logic.items()),
        ]
    physical = allocation.loc[allocation["kind"] == "physical"] if len(allocation) else allocation
    if len(physical):
        held = physical.loc[physical["net_weight"].abs() >= ZERO_WEIGHT]
        first = physical.iloc[0]
        lines += [
            "",
            f"target weights (held over the next session; gross {percent(first['gross_exposure'])}"
            f", net {percent(first['net_exposure'], signed=True)}; "
            f"{len(physical) - len(held)} zero weights left out):",
        ]
        for row in held.sort_values("net_weight", ascending=False).itertuples():
            lines.append(f"  {row.symbol:<24} {percent(row.net_weight, signed=True):>9}")
    if len(report):
        metrics = dict(zip(report["metric"], report["value"], strict=True))

        def number(key: str, spec: str = "") -> str:
            value = metrics.get(key, float("nan"))
            if pd.isna(value):
                return "n/a"
            return format(value, spec) if spec else percent(value)

        lines += [
            "",
            f"track record (out of sample, net of costs) over {metrics['sessions']:.0f} sessions:",
            f"  equity {number('equity', '.4f')} · sharpe {number('sharpe', '.2f')} · "
            f"annual return {number('annual_return')} · max drawdown {number('max_drawdown')} · "
            f"selection alpha {number('selection_alpha')}",
        ]
        pages = [path for path in report["report_path"] if path]
        if pages:
            lines.append(f"\nreport: {pages[0]}")
    lines += _leaderboard_lines(reader, day)
    lines.append(f"lake:   {settings.lake_root} (query with `tvs sql`)")
    return "\n".join(lines)


def _described(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Sub-commands whose ``--help`` opens with their one-line help as the description."""
    add = sub.add_parser

    def add_parser(name: str, **options: object) -> argparse.ArgumentParser:
        text = options.get("help")
        if text and "description" not in options:
            options["description"] = f"{str(text)[0].upper()}{str(text)[1:]}."
        return add(name, **options)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    return sub


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tvs``."""
    parser = OneLineParser(prog="tvs", description=DESCRIPTION)
    parser.add_argument(
        "--version", action="version", version=f"tvs {__version__}", help="print the version"
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show where an unexpected error was raised"
    )
    sub = _described(parser.add_subparsers(dest="command", required=True))

    def run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profile", default=None, help="profile name or YAML path")
        p.add_argument(
            "--source",
            default=None,
            choices=["demo", "tradingview"],
            help="market source (default: the profile's)",
        )
        p.add_argument(
            "--scale", type=_count, default=300, help="demo market listings (at least 100)"
        )

    run = sub.add_parser("run", help="run the nightly job for one day")
    run.add_argument("--date", default=None, help="as-of date YYYY-MM-DD (default: latest)")
    run_options(run)
    run.set_defaults(func=cmd_run)

    backfill = sub.add_parser(
        "backfill", help="fill a range of days (one run per path, or runs of --chunk-days K)"
    )
    backfill.add_argument("--start", required=True, help="first as-of date YYYY-MM-DD")
    backfill.add_argument("--end", required=True, help="last as-of date YYYY-MM-DD (inclusive)")
    backfill.add_argument(
        "--chunk-days",
        type=int,
        metavar="K",
        help="split into runs of K days, one asset backfill per path run by the Dagster daemon "
        "(default $TVS_CHUNK_DAYS; 0: one run per path)",
    )
    run_options(backfill)
    backfill.set_defaults(func=cmd_backfill)

    sql = sub.add_parser("sql", help="query the lake with DuckDB")
    sql.add_argument("query", help="one SELECT over the lake's tables (one per asset)")
    sql.add_argument(
        "--max-rows",
        type=_rows,
        default=200,
        help="rows to print at most (default 200; 0 prints all); the rest are counted on stderr",
    )
    sql.set_defaults(func=cmd_sql)

    health = sub.add_parser("health", help="print the data_health table of a day")
    health.add_argument("--date", default=None, help="the day YYYY-MM-DD (default: the latest)")
    health.set_defaults(func=cmd_health)

    promotion = sub.add_parser("promotion", help="print the champion/challenger promotion report")
    promotion.add_argument("--date", default=None, help="the day YYYY-MM-DD (default: the latest)")
    promotion.set_defaults(func=cmd_promotion)

    report = sub.add_parser(
        "report", help="render the out-of-sample tear sheet of a role's track record"
    )
    report.add_argument(
        "--role", choices=list(REPORT_TABLES), default="champion", help="whose track record"
    )
    report.add_argument("--start", default=None, help="first day (default: the record's first)")
    report.add_argument("--end", default=None, help="last day (default: the record's last)")
    report.add_argument("--profile", default=None, help="profile name or YAML path")
    report.set_defaults(func=cmd_report)

    tournament = sub.add_parser(
        "tournament", help="walk every engine x profile of a grid forward and rank them"
    )
    tournament.add_argument("--start", default=None, help="first day (default: the lookback)")
    tournament.add_argument("--end", default=None, help="as-of day (default: latest)")
    tournament.add_argument("--grid", default=None, help="a grid of the profile's tournament")
    run_options(tournament)
    tournament.set_defaults(func=cmd_tournament)

    calibrate = sub.add_parser(
        "calibrate-regime",
        help="calibrate the regime detector and write a profile overlay "
        "(use a profile with a long lookback: a reading needs ~290 sessions of history)",
    )
    calibrate.add_argument("--date", default=None, help="the panel's day (default: the latest)")
    calibrate.add_argument("--profile", default=None, help="profile name or YAML path")
    calibrate.add_argument(
        "--source",
        default=None,
        choices=["demo", "tradingview"],
        help="market source (default: the profile's)",
    )
    calibrate.add_argument("--folds", type=int, default=4, help="walk-forward folds")
    calibrate.add_argument("--trials", type=int, default=100, help="Optuna trials per search")
    calibrate.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    calibrate.add_argument("--out", default="regime_overlay.yaml", help="the overlay to write")
    calibrate.set_defaults(func=cmd_calibrate_regime)

    ledger = sub.add_parser("ledger", help="the hash-chained audit ledger")
    ledger_sub = _described(ledger.add_subparsers(dest="ledger_command", required=True))
    verify = ledger_sub.add_parser("verify", help="re-walk the chain")
    verify.add_argument(
        "--lake", action="store_true", help="also check every partition file against the ledger"
    )
    verify.add_argument(
        "--rehash", action="store_true", help="with --lake: hash every file, trust no cache"
    )
    verify.set_defaults(func=cmd_ledger_verify)
    ledger_sub.add_parser(
        "repair", help="move a torn tail aside, rebuild the lake index, settle unfinished writes"
    ).set_defaults(func=cmd_ledger_repair)

    ui = sub.add_parser("ui", help="start the Dagster UI on the instance tvs runs on")
    ui.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    ui.add_argument("--port", type=_port, default=3000, help="port to serve on (default 3000)")
    ui.set_defaults(func=cmd_ui)

    config = sub.add_parser("config", help="inspect configuration")
    config_sub = _described(config.add_subparsers(dest="config_command", required=True))
    show = config_sub.add_parser("show", help="print a fully resolved profile")
    show.add_argument("profile", help="profile name or YAML path")
    show.set_defaults(func=cmd_config_show)
    config_sub.add_parser("list", help="list shipped profiles").set_defaults(func=cmd_config_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; every failure prints one line and exits non-zero.

    A bad argument and a failure the command names (ours, or the system's: a path, a full
    disk, a store that does not answer) exit 2; an unexpected error exits 1, still on one
    line, with its type (``tvs --traceback …`` shows where it was raised); an interrupt 130.
    """
    try:
        args = build_parser().parse_args(argv)
    except CommandError as err:
        return _fail(err, 2)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `tvs health | head`: the reader has what it wanted
        _silence_stdout()
        return BROKEN_PIPE
    except (CommandError, *KNOWN_ERRORS) as err:
        return _fail(err, 2)
    except KeyboardInterrupt as err:  # a run's says which run, now CANCELED
        print(f"tvs: interrupted{f': {err}' if str(err) else ''}", file=sys.stderr)
        return INTERRUPTED
    except Exception as err:  # a bug or a library's own error: one line, the trace on request
        if args.traceback:
            raise
        if _is_store_fault(err):  # an object store that does not answer: named, as an OSError
            lake = load_settings().lake_root
            return _fail(OSError(f"lake {lake}: {describe_error(err)}"), 2)
        return _fail(err, 1, f" ({type(err).__name__}; `tvs --traceback …` shows where)")


def _is_store_fault(err: BaseException) -> bool:
    """An error of botocore (the object store's client): an endpoint down, a credential missing.

    Told by its module so that the base install, without s3fs, never imports botocore.
    """
    return any(cls.__module__.startswith("botocore.") for cls in type(err).__mro__)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (a test's capture)
        pass
    finally:
        os.close(devnull)


def _fail(err: BaseException, code: int, note: str = "") -> int:
    """Print the failure as one line on stderr; return the exit code."""
    print(f"tvs: error: {describe_error(err)}{note}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
