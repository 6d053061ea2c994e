from harness.outputs import value_diff


def test_subset_match_ignores_extra_keys():
    assert value_diff({"outputs": [{"data": [1.0]}]}, {"id": "x", "outputs": [{"data": [1.0], "shape": [1]}]}) == []


def test_float_tolerance_absolute_and_relative():
    assert value_diff([1.0], [1.000001], atol=1e-5) == []
    assert value_diff([1.0], [1.001], atol=1e-5) != []
    assert value_diff([1000.0], [1000.5], atol=0.0, rtol=1e-3) == []


def test_ints_strings_and_bools_compare_exactly_including_type():
    assert value_diff({"predictions": [2]}, {"predictions": ["2"]}) == ['$.predictions[0]: expected 2, got "2"']
    assert value_diff([2], [2.0]) != []
    assert value_diff([True], [1]) != []


def test_length_and_missing_keys_are_reported_with_paths():
    assert value_diff({"a": [1, 2]}, {"a": [1]}) == ["$.a: expected 2 items, got 1"]
    assert value_diff({"a": {"b": 1}}, {"a": {}}) == ["$.a.b: missing (expected 1)"]


def test_diff_is_bounded():
    diffs = value_diff(list(range(100)), [x + 1 for x in range(100)], limit=5)
    assert len(diffs) == 6 and diffs[-1].startswith("... (stopped")
