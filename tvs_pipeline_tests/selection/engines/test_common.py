import numpy as np
import pandas as pd

from tvs_pipeline.selection.engines.common import (
    claimed,
    decision_frame,
    identities,
    order_by_score,
    top_per_cluster,
)


def test_top_per_cluster_and_direction_with_deterministic_ties():
    frame = pd.DataFrame(
        {
            "symbol": ["B", "A", "C", "D", "E"],
            "direction": ["LONG", "LONG", "LONG", "SHORT", "LONG"],
            "cluster": [1, 1, 1, 1, 2],
        },
        index=[10, 11, 12, 13, 14],
    )
    score = pd.Series([0.5, 0.5, 0.4, 0.1, 0.9], index=frame.index)
    eligible = pd.Series([True, True, True, True, False], index=frame.index)
    picked = top_per_cluster(frame, eligible, score, top_n=1)
    assert picked.tolist() == [False, True, False, True, False]  # the tie goes to "A"
    assert top_per_cluster(frame, eligible, score, top_n=2).sum() == 3
    assert order_by_score(frame, score.where(eligible)).tolist() == [1, 0, 2, 3, 4]


def test_decision_frame_dtypes():
    index = pd.Index([3, 4])
    out = decision_frame(
        index, pd.Series([0.1, np.nan]), pd.Series([1, 0]), pd.Series([2, 0]), ["a", "b"]
    )
    assert list(out.index) == [3, 4]
    assert out.dtypes.astype(str).tolist() == ["float64", "bool", "int64", "str"]


def test_one_seat_per_identity_and_direction():
    frame = pd.DataFrame(
        {
            "symbol": ["BINANCE:BTCUSDT", "OKX:BTCUSDT", "BINANCE:BTCUSDT.P", "ETH"],
            "identity": ["BTC", "BTC", "BTC", None],
            "direction": ["LONG", "LONG", "SHORT", "LONG"],
            "cluster": [1, 1, 1, 1],
        }
    )
    score = pd.Series([0.9, 0.8, 0.7, 0.1])
    picked = top_per_cluster(frame, pd.Series([True] * 4), score, top_n=2)
    assert picked.tolist() == [True, False, True, True]  # the OKX twin yields its seat to ETH
    assert identities(frame).tolist() == ["BTC", "BTC", "BTC", "ETH"]
    assert claimed(frame, picked).tolist() == [False, True, False, False]
    assert identities(frame.drop(columns="identity")).tolist() == frame["symbol"].tolist()
