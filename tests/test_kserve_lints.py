"""The ModelServer runtime's lints: each fires on its pitfall, with its own code, and not on a correct file."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.lints import lint, lint_codes
from harness.runtimes.kserve.lints import RULES, WARNINGS
from harness.spec import load_scenario
from tests.helpers import TEST_DATA as DATA

GOOD_MODEL = DATA / "modelserver_model.py"  # written as KServe's custom-predictor docs write one
CODES = {"kserve-handler-syntax", "kserve-no-model-class", "kserve-model-name-mismatch", "kserve-load-never-ready",
         "torchserve-only-field", "kserve-workers-gpu"}


def codes(path: Path) -> list[str]:
    return [f.code for f in lint(load_scenario(path))]


@pytest.fixture
def with_handler(scenario_copy, tmp_path):
    """digits-kserve.yaml served by a handler file holding `source`."""
    def make(source: str | bytes, **changes) -> Path:
        handler = tmp_path / "handler.py"
        if isinstance(source, bytes):
            handler.write_bytes(source)
        else:
            handler.write_text(textwrap.dedent(source))
        return scenario_copy("digits-kserve.yaml", {"model": {"handler": str(handler)}, **changes})
    return make


def test_the_codes_are_known_and_only_the_gpu_one_warns():
    assert CODES <= lint_codes()
    assert WARNINGS == {"kserve-workers-gpu"}


def test_the_shipped_scenario_and_a_correct_model_file_are_clean(scenario_copy):
    assert codes(scenario_copy("digits-kserve.yaml")) == []
    assert codes(scenario_copy("digits-kserve.yaml", {"model": {"handler": str(GOOD_MODEL)}})) == []


@pytest.mark.parametrize("source, found", [
    ("import torch\nclass Digits:\n    pass\n", "none"),
    ("import kserve\nclass Digits(kserve.ModelServer):\n    pass\n", "none"),
    # Only the __main__ block defines it: that block does not run when the predictor imports the file.
    ("from kserve import Model\nif __name__ == '__main__':\n    class D(Model):\n        pass\n", "none"),
    ("from kserve import Model\nclass A(Model):\n    pass\nclass B(Model):\n    pass\n", "A, B"),
    # A base of the file's own counts too: the predictor finds both subclasses.
    ("from kserve import Model\nclass Base(Model):\n    pass\nclass D(Base):\n    pass\n", "Base, D"),
])
def test_a_file_without_exactly_one_model_class(with_handler, source, found):
    findings = lint(load_scenario(with_handler(source)))
    assert [(f.code, f.severity) for f in findings] == [("kserve-no-model-class", "error")]
    assert f"(found: {found})" in findings[0].what and findings[0].where.endswith("model.handler")
    assert findings[0].hint


@pytest.mark.parametrize("source", [
    "import kserve\nclass D(kserve.Model):\n    pass\n",
    "import kserve as ks\nclass D(ks.Model):\n    pass\n",
    "from kserve import Model as M\nclass D(M):\n    pass\n",
    "from kserve.model import Model\nclass D(Model):\n    pass\n",
    "import kserve.model as km\nclass D(km.Model):\n    pass\n",
    "try:\n    from kserve import Model\nexcept ImportError:\n    raise\nelse:\n    class D(Model):\n        pass\n",
])
def test_every_spelling_of_kserve_model_counts(with_handler, source):
    assert codes(with_handler(source)) == []


def test_a_file_that_does_not_parse_names_its_line(with_handler):
    findings = lint(load_scenario(with_handler("from kserve import Model\nclass D(Model)\n    pass\n")))
    assert [f.code for f in findings] == ["kserve-handler-syntax"]
    assert findings[0].where.endswith("handler.py:2") and "(line 2)" in findings[0].what


def test_a_file_with_a_nul_byte_is_a_syntax_finding_not_a_crash(with_handler):
    assert codes(with_handler(b"from kserve import Model\x00\n")) == ["kserve-handler-syntax"]


def test_a_missing_handler_is_the_generic_finding_only(scenario_copy, tmp_path):
    path = scenario_copy("digits-kserve.yaml", {"model": {"handler": str(tmp_path / "nope.py")}})
    assert codes(path) == ["handler-missing"]


def test_a_literal_name_other_than_model_name(with_handler):
    path = with_handler("""
        from kserve import Model
        class D(Model):
            def __init__(self, name):
                super().__init__(name="cifar")
        if __name__ == "__main__":
            D("mnist")
    """)
    findings = lint(load_scenario(path))
    assert [f.code for f in findings] == ["kserve-model-name-mismatch"] * 2
    assert "registers itself as 'cifar' but model.name is 'digits'" in findings[0].what
    assert findings[0].where.endswith("handler.py:5") and "D('mnist')" in findings[1].what
    assert "/v1/models/digits" in findings[1].what


def test_a_name_passed_through_or_the_model_name_itself_is_right(with_handler):
    # The harness builds the class with model.name; GOOD_MODEL's __main__ passes args.model_name.
    assert codes(with_handler("""
        from kserve import Model
        class D(Model):
            def __init__(self, name):
                super().__init__(name)
        if __name__ == "__main__":
            D("digits")
    """)) == []


def test_load_that_never_sets_ready(with_handler):
    path = with_handler("""
        from kserve import Model
        class D(Model):
            def load(self):
                self.model = object()
    """)
    findings = lint(load_scenario(path))
    assert [f.code for f in findings] == ["kserve-load-never-ready"]
    assert findings[0].where.endswith("handler.py:4") and "self.ready" in findings[0].hint


@pytest.mark.parametrize("load", [
    "return super().load()",
    "super().load()",
    "self._finish()\n    def _finish(self):\n        self.ready = True",  # set by a helper load calls
])
def test_load_that_sets_ready_some_way(with_handler, load):
    source = "from kserve import Model\nclass D(Model):\n    def load(self):\n        " + load + "\n"
    assert codes(with_handler(source)) == []


def test_the_load_that_raises_test_file_is_flagged(scenario_copy):
    # tests/test_modelserver_local.py serves it with ignore_lints: [kserve-load-never-ready].
    path = scenario_copy("digits-kserve.yaml", {"model": {"handler": str(DATA / "modelserver_load_fails.py")}})
    assert codes(path) == ["kserve-load-never-ready"]


@pytest.mark.parametrize("changes, key", [
    ({"model": {"model_file": str(GOOD_MODEL)}}, "model.model_file"),
    ({"model": {"requirements_file": str(GOOD_MODEL)}}, "model.requirements_file"),
    ({"model": {"handler": "image_classifier"}}, "model.handler"),
    ({"model": {"handler": "base_handler"}}, "model.handler"),
    ({"serving": {"envelope": "kserve"}}, "serving.envelope"),
    ({"serving": {"envelope": "none"}}, "serving.envelope"),
    ({"serving": {"path": "direct"}}, "serving.path"),
    ({"kubernetes": {"runtime": "kserve-torchserve"}}, "kubernetes.runtime"),
    ({"kubernetes": {"runtime_version": "0.12.0"}}, "kubernetes.runtime_version"),
])
def test_torchserve_only_fields(scenario_copy, changes, key):
    findings = lint(load_scenario(scenario_copy("digits-kserve.yaml", changes)))
    assert [(f.code, f.where.rsplit(": ", 1)[-1], f.severity) for f in findings] == \
        [("torchserve-only-field", key, "error")]
    assert findings[0].what.startswith(key) and findings[0].hint.startswith(("drop it", "use handler"))


def test_one_finding_per_torchserve_only_field(scenario_copy):
    path = scenario_copy("digits-kserve.yaml", {"serving": {"envelope": "kservev2", "path": "direct"},
                                                "kubernetes": {"runtime": "x", "runtime_version": "y"}})
    assert codes(path) == ["torchserve-only-field"] * 4


def test_several_workers_on_a_gpu_warn(scenario_copy):
    for gpus in ({"gpus": 1}, {"resources": {"limits": {"nvidia.com/gpu": 2}}}):
        findings = lint(load_scenario(scenario_copy("digits-kserve.yaml", {"kserve": {"workers": 2},
                                                                           "kubernetes": gpus})))
        assert [(f.code, f.severity) for f in findings] == [("kserve-workers-gpu", "warning")]
        assert findings[0].where.endswith("kserve.workers")
    assert codes(scenario_copy("digits-kserve.yaml", {"kserve": {"workers": 2}})) == []
    assert codes(scenario_copy("digits-kserve.yaml", {"kubernetes": {"gpus": 1}})) == []


def test_the_rules_say_nothing_of_a_torchserve_scenario(scenario_copy, tmp_path):
    # lint() runs them for runtime: kserve only; called on another runtime's scenario they stay quiet.
    handler = tmp_path / "handler.py"
    handler.write_text("class NotAKserveModel:\n    pass\n")
    spec = load_scenario(scenario_copy("digits.yaml", {"model": {"handler": str(handler)},
                                                       "serving": {"envelope": "none", "path": "direct"}}))
    assert [f for r in RULES for f in r(spec)] == []
