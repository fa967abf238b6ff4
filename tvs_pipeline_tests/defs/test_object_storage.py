"""The same code on an object-storage lake: the nightly graph against a local S3 server."""

from __future__ import annotations

import boto3
import dagster as dg
import fsspec
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from tvs_pipeline.definitions import ASSETS
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.lake.catalog import LakeReader, query_lake
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
