"""Model storage: the KServe layout uploaded under a gs:// URI (real GCS or an emulator)."""
from harness.storage.gcs import GcsStore
from harness.storage.emulator import GcsEmulator

__all__ = ["GcsStore", "GcsEmulator"]
