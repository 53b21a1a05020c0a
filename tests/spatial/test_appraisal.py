"""Options appraisal arithmetic, checked against cases worked by hand.

Every expected number below is derived in the comments from the definitions in
:mod:`spatial.appraisal` and :mod:`spatial.burden`, not read back from the code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spatial.appraisal import (
    AppraisalError,
    Criterion,
    appraise,
    check_weights,
    monte_carlo,
    normalise,
    pareto,
    rank,
)
from spatial.burden import (
    EMISSION_FACTORS,
    co2e_kg,
    concentration_index,
    person_km_per_year,
    route_distance_km,
)

ACCESS = Criterion("access", "Share within 20 min", "%", "higher")
TIME = Criterion("time", "Mean travel time", "min", "lower")


def test_two_options_two_criteria_by_hand() -> None:
    # access (higher better): A 80, B 90 -> normalised A 0, B 1
    # time (lower better):    A 10, B 14 -> normalised A 1, B 0
    # weights 1 : 3 -> 0.25, 0.75; scores A = 0.75, B = 0.25; A ranks first.
    matrix = pd.DataFrame({"access": [80.0, 90.0], "time": [10.0, 14.0]}, index=["A", "B"])
    result = appraise(matrix, [ACCESS, TIME], {"access": 1.0, "time": 3.0})
    np.testing.assert_allclose(result.weights, [0.25, 0.75])
    np.testing.assert_allclose(result.normalised, [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(result.scores, [0.75, 0.25])
    assert list(result.ranks) == [1, 2]
    assert result.top == "A"
    # Neither dominates: A is better on time, B on access.
    assert list(result.dominated) == [False, False]
    # Weight t on access (time gets 1 - t): S_A = 1 - t, S_B = t: equal at t = 0.5.
    access, time = result.sensitivity
    assert access.increase_to == pytest.approx(0.5)
    assert result.options[access.new_top_if_increased or 0] == "B"
    assert access.decrease_to is None  # less weight on access only helps A
    assert access.min_change == pytest.approx(0.25)
    assert time.decrease_to == pytest.approx(0.5)
    assert time.increase_to is None
    assert result.min_change() == ("access", pytest.approx(0.25))
    # Just past the flip weight the ranking flips; just before it does not.
    after = appraise(matrix, [ACCESS, TIME], {"access": 0.51, "time": 0.49})
    before = appraise(matrix, [ACCESS, TIME], {"access": 0.49, "time": 0.51})
    assert (after.top, before.top) == ("B", "A")
    body = result.to_dict()
    assert body["top"] == "A"
    assert body["sensitivity"]["min_change_criterion"] == "access"
    assert body["sensitivity"]["criteria"][0]["new_top_if_increased"] == "B"


def test_three_options_flip_weight_is_the_first_crossing() -> None:
    # Normalised (one criterion each way):      access  time
    #   A: access 0, time 10  ->                   0      1
    #   B: access 50, time 15 ->                   0.5    0.5
    #   C: access 100, time 20 ->                  1      0
    # weights access 0.2, time 0.8: A 0.8, B 0.5, C 0.2 -> A first.
    # Weight t on access: A = 1 - t, B = 0.5, C = t. A meets B at t = 0.5 (before C at 0.5:
    # a tie of all three) -> flip weight 0.5 either way, B named (first reached, lower index).
    matrix = pd.DataFrame(
        {"access": [0.0, 50.0, 100.0], "time": [10.0, 15.0, 20.0]}, index=["A", "B", "C"]
    )
    result = appraise(matrix, [ACCESS, TIME], {"access": 0.2, "time": 0.8})
    np.testing.assert_allclose(result.scores, [0.8, 0.5, 0.2])
    flip = result.sensitivity[0]
    assert flip.increase_to == pytest.approx(0.5)
    # Now make B strictly better in the middle: B access 60 -> normalised 0.6, time 0.5.
    # B = 0.6 t + 0.5 (1 - t) = 0.5 + 0.1 t; A = 1 - t: equal at t = 0.5 / 1.1 = 0.4545...
    matrix.loc["B", "access"] = 60.0
    result = appraise(matrix, [ACCESS, TIME], {"access": 0.2, "time": 0.8})
    flip = result.sensitivity[0]
    assert flip.increase_to == pytest.approx(0.5 / 1.1)
    assert result.options[flip.new_top_if_increased or 0] == "B"


def test_a_dominated_option_is_marked() -> None:
    # C is worse than A on both criteria: dominated by A (not by B, which has less access).
    matrix = pd.DataFrame(
        {"access": [90.0, 70.0, 85.0], "time": [10.0, 8.0, 12.0]}, index=["A", "B", "C"]
    )
    result = appraise(matrix, [ACCESS, TIME], {"access": 1.0, "time": 1.0})
    assert list(result.dominated) == [False, False, True]
    assert result.dominated_by == [[], [], [0]]
    assert result.to_dict()["rows"][2]["dominated_by"] == ["A"]
    # A criterion with weight 0 is not considered: on access alone B is dominated by A and C.
    only_access = appraise(matrix, [ACCESS, TIME], {"access": 1.0})
    assert list(only_access.dominated) == [False, True, True]
    # Equal on every criterion is not domination.
    dominated, _ = pareto([[1.0, 2.0], [1.0, 2.0]], ["higher", "lower"])
    assert not dominated.any()


def test_monte_carlo_share_is_100_percent_when_one_option_dominates() -> None:
    # A's whole range beats B's whole range on both criteria: A is first in every draw.
    matrix = pd.DataFrame({"access": [90.0, 60.0], "time": [10.0, 20.0]}, index=["A", "B"])
    low = pd.DataFrame({"access": [85.0, 50.0], "time": [8.0, 15.0]}, index=["A", "B"])
    high = pd.DataFrame({"access": [95.0, 70.0], "time": [12.0, 25.0]}, index=["A", "B"])
    for distribution in ("uniform", "triangular"):
        result = appraise(
            matrix,
            [ACCESS, TIME],
            {"access": 1.0, "time": 1.0},
            low=low,
            high=high,
            draws=500,
            seed=7,
            distribution=distribution,  # type: ignore[arg-type]
        )
        mc = result.monte_carlo
        assert mc is not None
        assert list(mc.first_share) == [1.0, 0.0]
        assert mc.rank_counts.tolist() == [[500, 0], [0, 500]]


def test_monte_carlo_overlapping_ranges_split_and_reproduce() -> None:
    # Identical symmetric ranges on one criterion: each option is first about half the time,
    # and the same seed gives the same counts.
    values = np.array([[10.0], [10.0]])
    low, high = values - 5, values + 5
    a = monte_carlo(values, low, high, ["lower"], [1.0], draws=4000, seed=3)
    b = monte_carlo(values, low, high, ["lower"], [1.0], draws=4000, seed=3)
    assert a.rank_counts.tolist() == b.rank_counts.tolist()
    assert a.first_share[0] == pytest.approx(0.5, abs=0.03)
    assert a.rank_counts.sum() == 8000
    # A range must contain its point value.
    with pytest.raises(AppraisalError, match="does not contain its value"):
        monte_carlo(values, values + 1, high, ["lower"], [1.0])


def test_normalisation_is_min_max_per_criterion_with_missing_as_worst() -> None:
    out = normalise([[1.0, 5.0, 3.0], [3.0, 5.0, np.nan], [2.0, 5.0, 1.0]], ["lower"] * 3)
    # col 0: lower better, min 1 max 3 -> 1, 0, 0.5; col 1 all equal -> 1; col 2: NaN -> 0
    np.testing.assert_allclose(out, [[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 1.0, 1.0]])
    assert rank([0.5, 0.9, 0.5]).tolist() == [2, 1, 2]


def test_bad_weights_name_the_criterion() -> None:
    ids = ["access", "time"]
    with pytest.raises(AppraisalError) as bad:
        check_weights({"access": -1.0, "time": float("nan"), "carbon": 1.0}, ids)
    text = str(bad.value)
    assert "weight of 'access': must be >= 0, got -1" in text
    assert "weight of 'time': must be finite" in text
    assert "unknown criteria ['carbon']" in text
    with pytest.raises(AppraisalError, match="at least one criterion needs a weight above 0"):
        check_weights({"access": 0.0}, ids)
    np.testing.assert_allclose(check_weights({"time": 2.0}, ids), [0.0, 1.0])


def test_co2e_is_factor_times_distance() -> None:
    # 1,000 people, 2 visits a year, 5 km away: 1000 × 2 × 2 × 5 = 20,000 person-km.
    pkm = person_km_per_year([1000.0], [5.0], visits_per_person_year=2.0)
    assert pkm == pytest.approx(20_000.0)
    for mode, factor in EMISSION_FACTORS.items():
        assert co2e_kg(pkm, mode) == pytest.approx(20_000.0 * factor.kg_co2e_per_km)
        assert factor.year == 2023
    assert co2e_kg(100.0, "drive") == pytest.approx(100.0 * 0.16844)
    assert co2e_kg(100.0, "walk") == 0.0
    with pytest.raises(ValueError, match="no emission factor for mode 'ferry'"):
        co2e_kg(1.0, "ferry")
    # 3 km east, 4 km north = 5 km straight, × 1.3 route factor = 6.5 km.
    assert route_distance_km([0.0], [0.0], [3000.0], [4000.0])[0] == pytest.approx(6.5)
    # No site (infinite distance) counts no journeys.
    assert person_km_per_year([10.0, 5.0], [1.0, np.inf], visits_per_person_year=1.0) == 20.0


def test_concentration_index_by_hand() -> None:
    # Two equal groups: decile 1 (most deprived) 20 min, decile 10 10 min.
    # mu = 15; ranks 0.25 and 0.75; C = 2/15 × (0.5×5×(-0.25) + 0.5×(-5)×0.25) = -1/6.
    c = concentration_index([20.0, 10.0], [100.0, 100.0], [1, 10])
    assert c == pytest.approx(-1.0 / 6.0)
    # Equal times: 0. Reversed: +1/6. Areas in one decile share a rank (split rows, same C).
    assert concentration_index([10.0, 10.0], [1.0, 1.0], [1, 10]) == pytest.approx(0.0)
    assert concentration_index([10.0, 20.0], [1.0, 1.0], [1, 10]) == pytest.approx(1.0 / 6.0)
    split = concentration_index([20.0, 20.0, 10.0], [50.0, 50.0, 100.0], [1, 1, 10])
    assert split == pytest.approx(-1.0 / 6.0)
    # Unreachable (inf) and unknown-decile rows are left out.
    assert concentration_index([20.0, np.inf, 10.0], [100.0, 5.0, 100.0], [1, 3, 10]) == (
        pytest.approx(-1.0 / 6.0)
    )


def test_capacity_shortfall_when_a_closed_sites_people_move_by_hand() -> None:
    # Two practices: A serves area a1 (900 people), B serves a2 (2,700). B's registered list
    # is 3,240 patients = 3,240 / 1,800 = 1.8 GP FTE; A's capacity is unknown.
    # Baseline: B's need 2,700 / 1,800 = 1.5 FTE < 1.8 -> shortfall 0 (A counted apart).
    # Close A: a1 moves to B, need 3,600 / 1,800 = 2.0 -> shortfall 2.0 - 1.8 = 0.2 FTE;
    # at the horizon (+10 % everywhere) 3,960 / 1,800 = 2.2 -> 0.4 FTE.
    from spatial.capacity import DEFAULT_NORMS, Norms, catchment_shortfall, gp_fte_capacity
    from spatial.scenario import CloseSites, Scenario, evaluate_scenario

    sites = pd.DataFrame({"site_id": ["A", "B"], "x": [0.0, 5000.0], "y": [0.0, 0.0]})
    times = pd.DataFrame(
        {
            "from_id": ["a1", "a1", "a2", "a2"],
            "to_id": ["A", "B", "A", "B"],
            "seconds": [300.0, 900.0, 900.0, 300.0],
            "mode": "drive",
        }
    )
    people = pd.DataFrame({"area_code": ["a1", "a2"], "age_band": "all", "count": [900.0, 2700.0]})
    result = evaluate_scenario(
        sites,
        Scenario("close A", changes=[CloseSites(["A"])]),
        travel_times=times,
        population=people,
    )
    areas = result.modes["drive"].areas.set_index("area_code")
    population = pd.DataFrame(
        {
            "area_code": ["a1", "a2", "a1", "a2"],
            "age_lower": 0,
            "age_upper": np.nan,
            "year": [2021, 2021, 2031, 2031],
            "count": [900.0, 2700.0, 990.0, 2970.0],
        }
    )
    norms = Norms.from_definition(DEFAULT_NORMS)
    lists = pd.DataFrame({"site_id": ["B"], "patients": [3240.0], "gp_fte": [np.nan]})
    fte = dict(zip(lists["site_id"], gp_fte_capacity(lists, norms.primary_care), strict=True))
    assert fte == {"B": pytest.approx(1.8)}

    def shortfall(col: str):  # type: ignore[no-untyped-def]
        return catchment_shortfall(
            areas[col].to_dict(),
            population,
            fte,
            service="primary_care",
            norms=norms,
            now_year=2021,
            horizon_year=2031,
        )

    before, after = shortfall("baseline_site"), shortfall("scenario_site")
    assert before.measure == "gp_fte"
    # At the horizon B alone: 2,970 / 1,800 = 1.65 < 1.8 -> still 0.
    assert (before.now, before.horizon, before.unknown) == (0.0, 0.0, ["A"])
    assert after.now == pytest.approx(0.2)
    assert after.horizon == pytest.approx(0.4)
    assert after.unknown == []
    assert list(after.sites["site_id"]) == ["B"]
