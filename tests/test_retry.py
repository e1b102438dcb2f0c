"""Backoff: exponential delays with jitter, so that processes failing together do not retry in step."""

import threading

import pytest

from apeltools.retry import Backoff, Interrupted


def test_each_delay_lies_between_half_and_all_of_its_doubling_step():
    backoff = Backoff(initial=1.0, maximum=8.0)
    for failures, step in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        delays = [backoff.delay(failures) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays), (failures, min(delays), max(delays))
        # Jitter: processes that failed at the same moment come back at different moments.
        assert len(set(delays)) > 150


def test_the_drawn_fraction_sets_the_delay():
    assert Backoff(initial=2.0, random=lambda: 0.0).delay(2) == 2.0
    assert Backoff(initial=2.0, random=lambda: 0.5).delay(2) == 3.0


def test_call_waits_the_jittered_delays_and_retries_until_success():
    waits = []

    class Recording(threading.Event):
        def wait(self, timeout=None):
            waits.append(timeout)
            return False

    failures = iter([ConnectionError("down")] * 3)

    def action():
        error = next(failures, None)
        if error:
            raise error
        return "up"

    backoff = Backoff(initial=1.0, maximum=60.0, stop=Recording(), random=lambda: 0.0)
    assert backoff.call(action, ConnectionError, "testing") == "up"
    assert waits == [0.5, 1.0, 2.0]


def test_call_gives_up_at_the_end_of_its_budget():
    backoff = Backoff(initial=0.01, maximum=0.02, give_up_after=0.2)
    with pytest.raises(Interrupted, match="gave up"):
        backoff.call(lambda: (_ for _ in ()).throw(ConnectionError("down")), ConnectionError, "testing")
