"""`dagster dev` end to end: the UI's launch path, the shadow sensor and the asset graph page.

One `dagster dev` on 127.0.0.1 (temporary TVS_HOME, DAGSTER_HOME=$TVS_HOME/dagster as `tvs`
prepares it) serves the module. `nightly` is launched for one partition through the GraphQL
mutation the Launchpad sends; the daemon's `shadow_after_nightly` sensor must then launch
`shadow` for that partition. Headless Chromium (Debian's `chromium`; skipped without it) opens
the asset graph and saves a screenshot: `TVS_UI_SCREENSHOT=path` copies it there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import dagster as dg
import pytest
import requests
from dagster_graphql import DagsterGraphQLClient

from tvs_pipeline.defs.jobs import SHADOW_ASSETS
from tvs_pipeline.defs.partitions import DAILY
from tvs_pipeline.defs.runner import location_tags, prepare_instance, run_job
from tvs_pipeline.settings import load_settings

pytestmark = [
    pytest.mark.slow,
    # dagster_graphql's client calls gql with arguments gql 4 deprecates (not ours to fix).
    pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
DAY = "2025-06-30"
START_TIMEOUT = 120.0  # seconds until /server_info answers and the code location is loaded
TICK_TIMEOUT = 60.0  # until the sensor's first tick (the daemon ticks it at start-up)
RUN_TIMEOUT = 120.0  # until a launched run finishes
SHADOW_TIMEOUT = 90.0  # until the sensor launches shadow (it ticks every 30 s)
POLL = 1.0
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}

# The global lineage page collapses every group; `expanded` opens the role groups (group ids
# are `global@global:<group>` on that page) and the path segment after `~` filters to them,
# so the zoom-to-fit-width view draws full asset nodes with their check rows. The funnel
# groups are left out: at 2400 px wide the filtered graph fits one screen in detail.
GRAPH_GROUPS = ("selection", "synthesis", "allocation", "simulation")
GRAPH_WINDOW = "2400,3400"
CHAMPION_NODES = ("selection", "synthesis", "allocation", "simulation", "performance_report")
SHADOW_NODES = tuple(SHADOW_ASSETS)


@dataclass(frozen=True)
class DagsterDev:
    """A running `dagster dev`: its address, log file and temporary homes."""

    port: int
    log: Path
    tvs_home: Path
    dagster_home: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient(HOST, port_number=self.port)

    def query(self, text: str, **variables: object) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": text, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class UiRuns:
    """The nightly run launched through GraphQL and the shadow run the sensor launched."""

    nightly_id: str
    shadow_id: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _default_sigint() -> None:
    # A job started in the background by a non-interactive shell (CI, `cmd &`) inherits SIGINT
    # ignored; dagster maps SIGTERM onto the SIGINT handler, so it would ignore SIGTERM too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(what: str, probe: Callable[[], object], timeout: float, dev: DagsterDev):
    """Call ``probe`` until it returns something truthy; fail with the log tail on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(POLL)
    pytest.fail(f"{what}: not after {timeout:.0f} s\n--- dagster dev log ---\n{dev.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left of it."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(group, signal.SIGKILL)
    process.wait(timeout=10)


@contextmanager
def _serving(base: Path) -> Iterator[DagsterDev]:
    """`tvs ui` on the home ``base / "home"`` until the block ends."""
    settings = load_settings({"TVS_HOME": str(base / "home")})
    dagster_home = prepare_instance(settings)  # $TVS_HOME/dagster with the `tvs` dagster.yaml
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TVS_", "DAGSTER_"))}
    env |= {
        "TVS_HOME": str(settings.home),
        "TVS_PROFILE": "demo",
        # The code server imports this checkout's package, whatever is installed.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    dev = DagsterDev(_free_port(), base / "dagster-dev.log", settings.home, dagster_home)
    # The documented command, started from the repository root (whose dagster.yaml it must
    # not pick up nor warn about): `tvs ui` runs dagster dev on DAGSTER_HOME=$TVS_HOME/dagster.
    command = [sys.executable, "-m", "tvs_pipeline.cli", "ui", "--host", HOST]
    command += ["--port", str(dev.port)]
    with dev.log.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"dagster dev exited with {process.returncode}\n{dev.log_tail()}")
            try:
                return requests.get(f"{dev.url}/server_info", timeout=2).ok
            except requests.RequestException:
                return False

        _wait_for("dagster dev /server_info", ready, START_TIMEOUT, dev)

        def loaded() -> bool:
            entries = dev.query(
                """{ workspaceOrError { ... on Workspace { locationEntries {
                       name loadStatus
                       locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
            )["workspaceOrError"]["locationEntries"]
            for entry in entries:
                error = entry["locationOrLoadError"] or {}
                if error.get("__typename") == "PythonError":
                    pytest.fail(f"code location {entry['name']}: {error['message']}")
            return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

        _wait_for("code location tvs_pipeline loaded", loaded, START_TIMEOUT, dev)
        yield dev
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory) -> Iterator[DagsterDev]:
    with _serving(tmp_path_factory.mktemp("dagster_dev")) as dev:
        yield dev


REPOSITORY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    jobs { name }
    schedules { name scheduleState { status } }
    sensors { name minIntervalSeconds
              sensorState { status ticks(limit: 1) { status cursor skipReason } } } } } } }"""

RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) {
    ... on Runs { results { runId status jobName tags { key value } } } } }"""

FAILURES = """query Failures($runId: ID!) { logsForRun(runId: $runId, limit: 1000) {
    ... on EventConnection { events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message } } } } }"""


def _repository(dev: DagsterDev) -> dict:
    (repository,) = dev.query(REPOSITORY)["repositoriesOrError"]["nodes"]
    return repository


def _sensor(dev: DagsterDev, name: str) -> dict:
    return next(s for s in _repository(dev)["sensors"] if s["name"] == name)


def _wait_for_run(dev: DagsterDev, run_id: str) -> dg.DagsterRunStatus:
    client = dev.client()

    def finished():
        status = client.get_run_status(run_id)
        return status if status in FINISHED else None

    status = _wait_for(f"run {run_id}", finished, RUN_TIMEOUT, dev)
    if status != dg.DagsterRunStatus.SUCCESS:
        events = dev.query(FAILURES, runId=run_id)["logsForRun"]["events"]
        lines = [
            f"{e.get('stepKey') or 'run'}: {(e.get('error') or {}).get('message') or e['message']}"
            for e in events
            if e["__typename"] in {"ExecutionStepFailureEvent", "RunFailureEvent"}
        ]
        pytest.fail(f"run {run_id}: {status.value}\n" + "\n".join(lines) + "\n" + dev.log_tail())
    return status


def _tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


@pytest.fixture(scope="module")
def ui_runs(dagster_dev) -> UiRuns:
    dev = dagster_dev
    # A run-status sensor's first tick only sets its cursor: a nightly run that finished before
    # it would never be seen. The daemon ticks it at start-up; launch after that tick.
    _wait_for(
        "first tick of shadow_after_nightly",
        lambda: _sensor(dev, "shadow_after_nightly")["sensorState"]["ticks"],
        TICK_TIMEOUT,
        dev,
    )
    # What the Launchpad sends for a partitioned job: the job and a dagster/partition tag.
    nightly_id = dev.client().submit_job_execution("nightly", tags={"dagster/partition": DAY})
    _wait_for_run(dev, nightly_id)
    run_key = f"{DAY}:{nightly_id}"

    def shadow_launched():
        runs = dev.query(
            RUNS,
            filter={
                "pipelineName": "shadow",
                "tags": [
                    {"key": "dagster/partition", "value": DAY},
                    {"key": "dagster/run_key", "value": run_key},
                ],
            },
        )["runsOrError"]["results"]
        return runs[0]["runId"] if runs else None

    shadow_id = _wait_for(f"shadow run with key {run_key}", shadow_launched, SHADOW_TIMEOUT, dev)
    _wait_for_run(dev, shadow_id)
    return UiRuns(nightly_id, shadow_id)


def test_nightly_launched_in_the_ui_triggers_shadow(dagster_dev, ui_runs):
    dev = dagster_dev
    repository = _repository(dev)
    assert repository["location"]["name"] == "tvs_pipeline"
    assert {"nightly", "shadow"} <= {j["name"] for j in repository["jobs"]}
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    assert schedules["nightly_schedule"] == "STOPPED"  # off until an operator turns it on
    sensors = {s["name"]: s for s in repository["sensors"]}
    assert set(sensors) >= {"shadow_after_nightly", "record_run_success", "record_run_failure"}
    assert {s["sensorState"]["status"] for s in sensors.values()} == {"RUNNING"}

    runs = dev.query(RUNS, filter={"runIds": [ui_runs.nightly_id, ui_runs.shadow_id]})
    by_id = {r["runId"]: r for r in runs["runsOrError"]["results"]}
    nightly, shadow = by_id[ui_runs.nightly_id], by_id[ui_runs.shadow_id]
    assert (nightly["jobName"], nightly["status"]) == ("nightly", "SUCCESS")
    assert (shadow["jobName"], shadow["status"]) == ("shadow", "SUCCESS")
    assert _tags(nightly)["dagster/partition"] == DAY
    assert _tags(nightly)["tvs/path"] == "champion"
    shadow_tags = _tags(shadow)
    assert shadow_tags["dagster/partition"] == DAY
    assert shadow_tags["dagster/sensor_name"] == "shadow_after_nightly"
    assert shadow_tags["dagster/run_key"] == f"{DAY}:{ui_runs.nightly_id}"
    assert shadow_tags["tvs/champion_run_id"] == ui_runs.nightly_id
    assert shadow_tags["tvs/path"] == "challenger"

    parity = dev.query(
        """query Parity($day: String!) {
             assetNodes(assetKeys: [{path: ["selection_parity"]}]) {
               assetMaterializations(partitions: [$day]) { runId partition } }
             assetCheckExecutions(assetKey: {path: ["selection_parity"]},
                                  checkName: "parity_within_thresholds", limit: 10,
                                  partition: $day) {
               runId status evaluation { success severity } } }""",
        day=DAY,
    )
    (node,) = parity["assetNodes"]
    assert [(m["runId"], m["partition"]) for m in node["assetMaterializations"]] == [
        (ui_runs.shadow_id, DAY)
    ]
    evaluated = [
        e
        for e in parity["assetCheckExecutions"]
        if e["runId"] == ui_runs.shadow_id and e["evaluation"] is not None
    ]
    # The check is partitioned like its asset, so the evaluation is recorded for the day.
    assert len(evaluated) == 1, parity["assetCheckExecutions"]
    # A WARN check may fail without failing the run; either verdict means it was evaluated.
    assert evaluated[0]["status"] in {"SUCCEEDED", "FAILED"}
    assert evaluated[0]["evaluation"]["severity"] == "WARN"

    # The ledger sensors ran against the same temporary home.
    assert (dev.tvs_home / "ledger" / "audit.jsonl").exists()


def test_tvs_ui_starts_the_ui_without_warnings(dagster_dev):
    log = dagster_dev.log.read_text(encoding="utf-8", errors="replace")
    assert f"on the instance {dagster_dev.dagster_home}" in log
    assert "will not be used to configure Dagster" not in log  # no second dagster.yaml
    assert "FutureWarning" not in log and "superseded" not in log.lower(), log[-2000:]


def test_ui_runs_carry_the_code_location_label_tvs_gives_its_own(dagster_dev, ui_runs):
    # The job page lists the runs of its job filed under its code location; a run launched
    # from the UI carries that label, and `tvs run` gives its runs the same one.
    label = location_tags("nightly")
    with dg.DagsterInstance.from_config(str(dagster_dev.dagster_home)) as instance:
        stored = instance.get_run_by_id(ui_runs.nightly_id)
        assert stored.tags_for_storage()[".dagster/repository"] == label[".dagster/repository"]
        repository = {".dagster/repository": label[".dagster/repository"]}
        listed = instance.get_runs(filters=dg.RunsFilter(job_name="nightly", tags=repository))
    assert ui_runs.nightly_id in {run.run_id for run in listed}


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(binary: str, profile: Path, *args: str, window: str = GRAPH_WINDOW) -> bytes:
    """Run headless Chromium in its own process group; return its stdout."""
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={window}",
        "--virtual-time-budget=20000",
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=90)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # helpers that outlived the browser
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 0, f"chromium exited with {process.returncode}"
    return out


def _png_rows(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct raw scanlines of a PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width = height = 0
    idat, offset = b"", 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) in {(8, 2), (8, 6)}, f"unexpected PNG format {depth}/{colour}"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    assert len(raw) == stride * height
    return width, height, len({raw[i : i + stride] for i in range(0, len(raw), stride)})


@pytest.mark.skipif(
    _chromium() is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)
def test_asset_graph_shows_both_paths(dagster_dev, ui_runs, tmp_path):
    binary = _chromium()
    assert binary is not None
    selection = quote(" or ".join(f"group:{g}" for g in GRAPH_GROUPS), safe="")
    expanded = urlencode({"expanded": ",".join(f"global@global:{g}" for g in GRAPH_GROUPS)})
    url = f"{dagster_dev.url}/asset-groups~{selection}/?{expanded}"

    dom = _run_chromium(binary, tmp_path / "profile", "--dump-dom", url).decode()
    for asset in (*CHAMPION_NODES, *SHADOW_NODES):
        assert f'data-tooltip="{asset}"' in dom, f"{asset} not drawn on {url}"
    assert 'href="/assets/selection_parity?view=checks"' in dom  # the parity node's check row

    shot = tmp_path / "asset-graph.png"
    _run_chromium(binary, tmp_path / "profile", f"--screenshot={shot}", url)
    width, height, rows = _png_rows(shot.read_bytes())
    expected = tuple(int(n) for n in GRAPH_WINDOW.split(","))
    assert (width, height) == expected
    assert rows > height // 4, f"{shot}: {rows} distinct rows of {height}: a blank page?"
    target = os.environ.get("TVS_UI_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


# The asset pages an operator reads after a backfill (docs/runbook.md §8): the Overview's
# Metadata section, switched to Plots, charts each numeric entry over the partitions (the
# latest 100 of them: the backfill is of the latest days). Opt-in (its own home, a backfill):
# TVS_UI_SCREENSHOTS=/tmp/tvs-ui pytest tvs_pipeline_tests/ui -k asset_pages
ASSET_PAGES = ("allocation", "performance_report", "simulation")
PAGE_WINDOW = (1600, 4800)
PLOTS_BUTTON = """(() => {
  const button = [...document.querySelectorAll('button')]
    .find(element => element.textContent.trim() === 'Plots');
  if (button) { button.click(); }
  return Boolean(button);
})()"""


async def _plots_screenshot(socket_url: str, url: str) -> tuple[bool, bytes]:
    """Open ``url`` over the DevTools protocol, press Plots, wait for the charts, capture."""
    import base64
    import json

    import websockets

    async with websockets.connect(socket_url, max_size=None) as ws:
        ids = iter(range(1, 1_000_000))

        async def call(method: str, **params: object) -> dict:
            sent = next(ids)
            await ws.send(json.dumps({"id": sent, "method": method, "params": params}))
            while True:
                answer = json.loads(await ws.recv())
                if answer.get("id") == sent:
                    return answer.get("result", {})

        await call("Page.enable")
        await call("Page.navigate", url=url)
        pressed = False
        for _ in range(60):
            found = await call("Runtime.evaluate", expression=PLOTS_BUTTON, returnByValue=True)
            if found["result"].get("value"):
                pressed = True
                break
            await asyncio.sleep(1)
        await asyncio.sleep(6)  # the charts' queries and drawing
        shot = await call("Page.captureScreenshot", format="png")
        return pressed, base64.b64decode(shot["data"])


def _asset_page_with_plots(binary: str, profile: Path, url: str) -> tuple[bool, bytes]:
    """Headless Chromium driven over its DevTools port (a button must be pressed)."""
    port = _free_port()
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
               "--window-size={},{}".format(*PAGE_WINDOW), f"--remote-debugging-port={port}",
               "about:blank"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = requests.get(f"http://{HOST}:{port}/json", timeout=2).json()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        page = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        return asyncio.run(_plots_screenshot(page, url))
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.skipif(
    _chromium() is None or not os.environ.get("TVS_UI_SCREENSHOTS"),
    reason="opt-in: TVS_UI_SCREENSHOTS=<directory>, and chromium on PATH",
)
def test_asset_pages_chart_the_metadata_over_partitions(tmp_path):
    target = Path(os.environ["TVS_UI_SCREENSHOTS"])
    target.mkdir(parents=True, exist_ok=True)
    settings = load_settings({"TVS_HOME": str(tmp_path / "home"), "TVS_PROFILE": "demo"})
    keys = DAILY.get_partition_keys()
    assert run_job(settings, "nightly", partition_range=(keys[-7], keys[-1]), scale=100).success
    with _serving(tmp_path) as dev:
        for asset in ASSET_PAGES:
            url = f"{dev.url}/assets/{asset}?view=overview"
            pressed, png = _asset_page_with_plots(_chromium(), tmp_path / "profile", url)
            assert pressed, f"no Plots button on {url}"
            shot = target / f"{asset}-plots.png"
            shot.write_bytes(png)
            _, height, rows = _png_rows(png)
            assert rows > height // 8, f"{shot}: {rows} distinct rows of {height}: a blank page?"
