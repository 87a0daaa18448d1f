"""The dashboard's scan counters are named by the Asia/Shanghai hour (adapters/store/stats.py),
formatted once an hour: the name of every second is the one the clock shows in Beijing."""
import datetime as dt

import pytest

from adapters.store.stats import _day, _hour

CN = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize("at", [0, 1, 3_599, 3_600, 57_599, 57_600, 1_764_547_199, 1_764_547_200, 2**31 - 1])
def test_an_hour_is_named_as_the_beijing_clock_shows_it(at):
    assert _hour(at) == dt.datetime.fromtimestamp(at, CN).strftime("%Y-%m-%dT%H")


def test_the_hour_turns_at_the_hour_and_the_day_at_beijing_midnight():
    midnight = int(dt.datetime(2026, 12, 2, tzinfo=CN).timestamp())
    assert (_hour(midnight - 1), _hour(midnight)) == ("2026-12-01T23", "2026-12-02T00")
    assert (_day(midnight - 1), _day(midnight)) == ("2026-12-01", "2026-12-02")
