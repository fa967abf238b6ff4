import threading
import time

import pytest

from tvs_pipeline.market.tradingview.pacing import RateLimiter, shared_limiter


def test_slots_are_spaced_by_the_rate_in_arrival_order():
    now = [0.0]
    limiter = RateLimiter(4.0, clock=lambda: now[0])
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    now[0] = 5.0
    assert limiter.reserve() == 0.0


def test_threads_share_one_budget():
    limiter = RateLimiter(40.0)
    started = time.perf_counter()
    threads = [threading.Thread(target=limiter.wait) for _ in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.perf_counter() - started >= 8 / 40 - 0.01


def test_one_limiter_per_endpoint_and_rate():
    assert shared_limiter("a", 2.0) is shared_limiter("a", 2.0)
    assert shared_limiter("a", 2.0) is not shared_limiter("b", 2.0)


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="must be > 0"):
        RateLimiter(0)
