"""The windowed limiter (``accounts.throttle.rate_limit_take``): one upsert per event, exact
under concurrency on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from accounts.models import ThrottleCounter
from accounts.throttle import Limit, RateLimited, rate_limit_take
from extraction.services.cutouts import CutoutRefused, anonymous_take

MINUTE = Limit(3, timedelta(minutes=1), "At most 3 a minute.")


def _race(n: int, take: Callable[[], None], refusal: type[Exception]) -> list[bool]:
    """``take`` from ``n`` threads at once, each on its own connection: which passed."""
    start = threading.Barrier(n)

    def one(_: int) -> bool:
        start.wait()
        try:
            take()
            return True
        except refusal:
            return False
        finally:
            connections.close_all()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.django_db
def test_a_full_window_refuses_with_the_wait_and_counts_nothing():
    for _ in range(3):
        rate_limit_take(key="k", limit=MINUTE)
    with pytest.raises(RateLimited) as refused:
        rate_limit_take(key="k", limit=MINUTE)
    assert 55 <= refused.value.retry_after_s <= 60
    assert "At most 3 a minute. Please try again in" in str(refused.value)
    assert ThrottleCounter.objects.get(key="k").count == 3


@pytest.mark.django_db
def test_a_window_that_ran_out_starts_again_with_this_event():
    for _ in range(3):
        rate_limit_take(key="k", limit=MINUTE)
    long_ago = timezone.now() - timedelta(minutes=1, seconds=1)
    ThrottleCounter.objects.filter(key="k").update(window_started_at=long_ago)
    rate_limit_take(key="k", limit=MINUTE)
    row = ThrottleCounter.objects.get(key="k")
    assert row.count == 1 and timezone.now() - row.window_started_at < timedelta(seconds=5)
    rate_limit_take(key="k", limit=MINUTE)
    assert ThrottleCounter.objects.get(key="k").count == 2


@pytest.mark.django_db
def test_keys_count_apart_and_a_zero_limit_refuses_everything():
    rate_limit_take(key="a", limit=MINUTE)
    rate_limit_take(key="b", limit=MINUTE)
    assert dict(ThrottleCounter.objects.values_list("key", "count")) == {"a": 1, "b": 1}
    with pytest.raises(RateLimited) as refused:
        rate_limit_take(key="c", limit=Limit(0, timedelta(hours=1), "None at all."))
    assert refused.value.retry_after_s == 3600
    assert not ThrottleCounter.objects.filter(key="c").exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_events_never_pass_the_limit():
    """Sixteen threads with their own connections race for five places."""
    limit = Limit(5, timedelta(hours=1), "Five.")
    passed = _race(16, lambda: rate_limit_take(key="race", limit=limit), RateLimited)
    assert passed.count(True) == 5
    assert ThrottleCounter.objects.get(key="race").count == 5


@pytest.mark.django_db
def test_an_anonymous_refusal_by_the_day_counts_in_neither_window(settings):
    settings.DSSPORTAL_ANON_CUTOUT_PER_MINUTE = 10
    settings.DSSPORTAL_ANON_CUTOUT_PER_DAY = 2
    anonymous_take(address="192.0.2.7")
    anonymous_take(address="192.0.2.7")
    with pytest.raises(CutoutRefused) as refused:
        anonymous_take(address="192.0.2.7")
    assert refused.value.status == 429 and "a day" in refused.value.message
    counts = dict(ThrottleCounter.objects.values_list("key", "count"))
    assert counts == {"cutout-minute:ip:192.0.2.7": 2, "cutout-day:ip:192.0.2.7": 2}


@pytest.mark.django_db(transaction=True)
def test_parallel_anonymous_calls_keep_both_windows_exact(settings):
    """Twelve calls at once from one address, room for four a day: four pass, and the
    minute's count holds those four only (the refused ones gave theirs back)."""
    settings.DSSPORTAL_ANON_CUTOUT_PER_MINUTE = 100
    settings.DSSPORTAL_ANON_CUTOUT_PER_DAY = 4
    passed = _race(12, lambda: anonymous_take(address="2001:db8::1"), CutoutRefused)
    assert passed.count(True) == 4
    counts = dict(ThrottleCounter.objects.values_list("key", "count"))
    assert counts == {"cutout-minute:ip:2001:db8::/64": 4, "cutout-day:ip:2001:db8::/64": 4}
