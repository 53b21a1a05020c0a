"""Co-location weights are checked when a job is submitted, never first in the worker.

The ``colocation`` process and ``GET /estate/colocation`` share one model
(:class:`app.services.colocation.ColocationParams`); its checks run in
:meth:`app.jobs.registry.Process.parse` at ``POST /processes/colocation/execution`` (a 400
problem naming the input, before any job is queued). The route and the process end to end on
real data are in ``tests/api/test_estate.py``; here every bad weight, with its message.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from app.errors import InvalidParameter
from app.jobs.colocation_job import COLOCATION
from app.services.colocation import ColocationParams
from spatial.colocation import SCORE_COMPONENTS

CASES: list[tuple[Any, str]] = [
    ({"drama": 1}, "unknown weight 'drama'; the components are owners, host_space"),
    ({"owners": -2}, "'weights.owners': Input should be greater than or equal to 0"),
    ({"owners": -0.001}, "'weights.owners': Input should be greater than or equal to 0"),
    ({"population": math.nan}, "'weights.population': Input should be a finite number"),
    ({"population": math.inf}, "'weights.population': Input should be a finite number"),
    ({"services": 1001}, "'weights.services': Input should be less than or equal to 1000"),
    ({"services": "lots"}, "'weights.services': Input should be a valid number"),
    (dict.fromkeys(SCORE_COMPONENTS, 0), "at least one score weight must be positive"),
    ([1, 2], "'weights': Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("weights", "message"), CASES)
def test_bad_weights_are_refused_at_submission(weights: Any, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        COLOCATION.parse({"method": "distance", "weights": weights})
    assert caught.value.parameter == "weights"
    assert message in caught.value.detail


def test_good_weights_keep_the_defaults_of_the_others() -> None:
    params = COLOCATION.parse({"weights": {"owners": 0, "population": "2.5"}})
    assert isinstance(params, ColocationParams)
    weights = params.score_weights.as_dict()
    assert (weights["owners"], weights["population"]) == (0.0, 2.5)
    assert weights["services"] == 0.5  # a default
