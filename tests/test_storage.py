"""Upload with google-cloud-storage to the real GCS emulator; download with real kserve-storage."""
import pytest

from harness.errors import DeployError
from harness.storage import GcsEmulator, GcsStore
from harness.storage.initializer import run_storage_initializer
from harness.waits import port_is_free
from tests.helpers import processes_touching


def test_upload_then_storage_initializer_downloads_the_kserve_layout(tmp_path):
    layout = {"config/config.properties": b"a=b\n", "model-store/m.mar": b"\x00\x01mar"}
    with GcsEmulator(tmp_path / "emu") as emu:
        objects = GcsStore.for_emulator(emu.host).upload("gs://bucket/models/m", layout)
        assert sorted(o.name for o in objects) == ["models/m/config/config.properties", "models/m/model-store/m.mar"]
        run_storage_initializer("gs://bucket/models/m", tmp_path / "models", tmp_path / "init.log",
                                emulator_host=emu.host)
    assert (tmp_path / "models/config/config.properties").read_bytes() == b"a=b\n"
    assert (tmp_path / "models/model-store/m.mar").read_bytes() == b"\x00\x01mar"
    assert "Successfully copied gs://bucket/models/m" in (tmp_path / "init.log").read_text()
    assert port_is_free(emu.port) and processes_touching(tmp_path) == []


def test_wrong_uri_fails_with_the_real_kserve_storage_error(tmp_path):
    with GcsEmulator(tmp_path / "emu") as emu:
        GcsStore.for_emulator(emu.host).upload("gs://bucket/models/m", {"config/x": b"1"})
        with pytest.raises(DeployError) as err:
            run_storage_initializer("gs://bucket/models/typo", tmp_path / "models", tmp_path / "init.log",
                                    emulator_host=emu.host)
    assert err.value.one_line().startswith("not ready: storage-initializer failed:")
    assert "GCS resource 'bucket' not found" in err.value.what  # kserve-storage's own words
    assert "Traceback" in err.value.details  # the whole log is kept for the report
