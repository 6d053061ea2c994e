"""The .mar comes from the real torch-model-archiver; config.properties is what KServe needs."""
import json
import zipfile
from pathlib import Path

from harness.runtimes.torchserve.archive import build_archive, config_properties, parse_properties, render_config_properties
from harness.spec import load_scenario
from tests.helpers import SCENARIOS


def test_config_properties_for_kserve():
    props = parse_properties(render_config_properties(load_scenario(SCENARIOS / "digits.yaml")))
    assert props["enable_envvars_config"] == "true"  # TS_SERVICE_ENVELOPE only counts with this
    assert props["disable_token_authorization"] == "true"
    assert props["enable_metrics_api"] == "true" and props["metrics_mode"] == "prometheus"
    assert props["model_store"] == "/mnt/models/model-store"
    entry = json.loads(props["model_snapshot"])["models"]["digits"]["1.0"]
    assert entry["marName"] == "digits.mar" and entry["batchSize"] == 1 and entry["defaultVersion"] is True


def test_envelope_none_turns_envvars_config_off(scenario_copy):
    spec = load_scenario(scenario_copy("digits.yaml", {"serving": {"envelope": "none"}}))
    assert config_properties(spec)["enable_envvars_config"] == "false"


def test_properties_pass_through(scenario_copy):
    spec = load_scenario(scenario_copy("digits.yaml", {"torchserve": {"properties": {"job_queue_size": 50}}}))
    assert config_properties(spec)["job_queue_size"] == "50"


def test_archive_is_built_then_reused_then_rebuilt_on_change(scenario_copy, tmp_path, digits_model):
    spec = load_scenario(scenario_copy("digits.yaml", {"model": {"serialized_file": str(digits_model)}}))
    first = build_archive(spec, tmp_path / "cache")
    with zipfile.ZipFile(first.path) as zf:
        manifest = json.loads(zf.read("MAR-INF/MANIFEST.json"))
        assert {"model.pt", "tensor_handler.py"} <= set(zf.namelist())
    assert manifest["model"]["modelName"] == "digits" and manifest["model"]["handler"] == "tensor_handler.py"
    assert not first.reused

    again = build_archive(spec, tmp_path / "cache")
    assert again.reused and again.path == first.path and again.sha256 == first.sha256

    digits_model.write_bytes(digits_model.read_bytes() + b"\0")  # any change in an input rebuilds
    changed = build_archive(spec, tmp_path / "cache")
    assert not changed.reused and changed.inputs_hash != first.inputs_hash


def test_concurrent_builds_on_a_cold_cache_all_succeed(scenario_copy, tmp_path):
    """Six processes build the same archive into one empty cache at once (two CI jobs after a
    model change do this): every one succeeds, all get the same archive, no partial folder stays."""
    import subprocess
    import sys

    scenario = scenario_copy("digits.yaml")
    cache = tmp_path / "cache"
    code = ("import sys; from pathlib import Path; from harness.runtimes.torchserve.archive import build_archive; "
            "from harness.spec import load_scenario; "
            "a = build_archive(load_scenario(sys.argv[1]), Path(sys.argv[2])); print(a.sha256, a.path)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(scenario), str(cache)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [p.communicate(timeout=180) + (p.returncode,) for p in procs]
    assert [rc for _, _, rc in results] == [0] * 6, [err for _, err, rc in results if rc]
    assert len({out.strip() for out, _, _ in results}) == 1  # one archive, one digest
    published = Path(results[0][0].split()[1]).parent
    assert list((cache / "archives").iterdir()) == [published]  # no .partial folder left behind
