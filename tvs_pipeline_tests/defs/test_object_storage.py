"""The same code on an object-storage lake: the nightly graph against a local S3 server."""

from __future__ import annotations

import os
import socket
import threading
import time

import boto3
import dagster as dg
import fsspec
import numpy as np
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from tvs_pipeline.cli import main
from tvs_pipeline.definitions import ASSETS
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.lake.catalog import LakeReader, query_lake
from tvs_pipeline.lake.storage import partition_keys, partition_path, write_parquet_atomic
from tvs_pipeline.settings import load_settings

DAY = "2025-06-30"


@pytest.fixture
def s3_lake(tmp_path, monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="tvs")
    fsspec.config.conf.setdefault("s3", {})["client_kwargs"] = {"endpoint_url": endpoint}
    try:
        yield load_settings({"TVS_HOME": str(tmp_path / "home"), "TVS_LAKE": "s3://tvs/lake"})
    finally:
        fsspec.config.conf.pop("s3", None)
        server.stop()


@pytest.mark.slow
def test_nightly_graph_on_an_s3_lake(s3_lake):
    settings = s3_lake
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ASSETS, partition_key=DAY, instance=instance, resources=build_resources(settings)
        )
    assert result.success
    reader = LakeReader(settings.lake_root)
    weights = reader.read("allocation", where="date = ?", params=[pd.Timestamp(DAY).date()])
    assert len(weights) > 0
    count = query_lake(settings.lake_root, "select count(*) as n from selection")
    assert count.loc[0, "n"] > 0


# ------------------------------------- an endpoint that accepts and never answers (issue 18.9)
# connect 1 s, read 1 s, 2 tries, 3 s a request: a silent endpoint fails a call after about
# 2 x 1 s plus botocore's back-off; an upload it never reads, after about 2 x 3 s.
BOUNDS = {
    "TVS_S3_CONNECT_TIMEOUT": "1",
    "TVS_S3_READ_TIMEOUT": "1",
    "TVS_S3_ATTEMPTS": "2",
    "TVS_S3_REQUEST_TIMEOUT": "3",
}
GIVE_UP_SECONDS = 12.0


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection, reads, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_lake(tmp_path, monkeypatch):
    s3fs = pytest.importorskip("s3fs")
    server = SilentServer()
    endpoint = f"http://127.0.0.1:{server.port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL": endpoint,
        "TVS_HOME": str(tmp_path / "home"),
        "TVS_LAKE": "s3://tvs/lake",
        **BOUNDS,
    }.items():
        monkeypatch.setenv(key, value)
    # The endpoint in fsspec's configuration keys the cached filesystem to this server.
    monkeypatch.setitem(fsspec.config.conf, "s3", {"client_kwargs": {"endpoint_url": endpoint}})
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", s3fs.S3FileSystem.retries)
    try:
        yield load_settings()
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.close()


def test_a_silent_endpoint_fails_a_lake_call_within_the_bounds(silent_lake):
    started = time.monotonic()
    with pytest.raises(OSError, match="timeout"):
        partition_keys(silent_lake.lake_root, "bars")
    assert time.monotonic() - started < GIVE_UP_SECONDS


@pytest.mark.parametrize("rows", [10, 2_000_000], ids=["small", "larger-than-the-buffers"])
def test_a_silent_endpoint_fails_a_partition_write_within_the_bounds(silent_lake, rows):
    # Before: a write waited for ever for the "100 Continue" botocore asks for (no timer
    # covers that wait), and a body the peer never reads blocks once the buffers are full.
    path = partition_path(silent_lake.lake_root, "bars", "2025-06-30")
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=rows)})
    started = time.monotonic()
    with pytest.raises(OSError, match=f"could not write partition {path}: .*timeout"):
        write_parquet_atomic(frame, path)
    assert time.monotonic() - started < GIVE_UP_SECONDS


def test_a_silent_endpoint_is_one_line_from_the_command(silent_lake, capsys):
    started = time.monotonic()
    assert main(["health"]) == 2
    assert time.monotonic() - started < GIVE_UP_SECONDS
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tvs: error: ") and "timeout" in err[0]
    assert os.environ["AWS_ENDPOINT_URL_S3"] in err[0]  # the endpoint that did not answer


@pytest.mark.slow
def test_a_silent_endpoint_fails_tvs_run_with_one_line(silent_lake, capsys):
    started = time.monotonic()
    assert main(["run", "--date", "2025-06-30", "--scale", "100"]) == 2
    # The run's start-up and the first steps, then one write that gives up within the bounds.
    assert time.monotonic() - started < 60
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tvs: error: nightly run") and "timeout" in err[-1]
    assert "Traceback" not in "\n".join(err)
