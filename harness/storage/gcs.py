"""Upload the KServe storage layout with the real google-cloud-storage client.

Flow: a runtime names the objects (`Runtime.model_files`: TorchServe's config/config.properties
and model-store/NAME.mar); `GcsStore.for_emulator(host)` or `GcsStore.for_gcs()` makes a client
(credentials passed explicitly, no environment mutation); `store.upload(uri, layout)` writes them
under the URI, creating the bucket on the emulator.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.errors import EnvironmentProblem


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("gs://"):].partition("/")
    return bucket, prefix.strip("/")


@dataclass
class UploadedObject:
    name: str
    size: int
    md5: str | None


class GcsStore:
    """A google-cloud-storage client aimed at real GCS or at an emulator."""

    def __init__(self, client, *, emulator_host: str | None) -> None:
        self.client = client
        self.emulator_host = emulator_host

    @classmethod
    def for_emulator(cls, host: str) -> "GcsStore":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project="kserve-harness", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": host})
        return cls(client, emulator_host=host)

    @classmethod
    def for_gcs(cls, project: str | None = None) -> "GcsStore":
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage

        try:
            credentials, default_project = google.auth.default()
        except DefaultCredentialsError as exc:
            raise EnvironmentProblem("no Google Cloud credentials for real GCS", where="application default credentials",
                                     hint="run `gcloud auth application-default login`, or drop --real-gcs to use the emulator") from exc
        return cls(storage.Client(project=project or default_project, credentials=credentials), emulator_host=None)

    def upload(self, uri: str, layout: dict[str, bytes]) -> list[UploadedObject]:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        bucket_name, prefix = split_uri(uri)
        try:
            bucket = self.client.bucket(bucket_name)
            if self.emulator_host and not bucket.exists():
                bucket = self.client.create_bucket(bucket_name)
            uploaded = []
            for name, data in layout.items():
                blob = bucket.blob(f"{prefix}/{name}" if prefix else name)
                blob.upload_from_string(data, content_type="application/octet-stream")
                uploaded.append(UploadedObject(name=blob.name, size=len(data), md5=blob.md5_hash))
            return uploaded
        except auth_exc.GoogleAuthError as exc:  # no network to the token endpoint, expired login...
            raise EnvironmentProblem(f"upload to {uri} failed: cannot authenticate to Google Cloud: "
                                     f"{_first_line(exc)}", where="application default credentials",
                                     hint="check the network and `gcloud auth application-default login`, "
                                          "or drop --real-gcs to use the emulator") from exc
        except (gexc.GoogleAPIError, OSError, ValueError) as exc:
            where = self.emulator_host or "storage.googleapis.com"
            raise EnvironmentProblem(f"upload to {uri} failed: {_first_line(exc)}", where=where,
                                     hint="check the bucket exists and your account may write to it") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
