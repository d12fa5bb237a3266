"""Service settings, read from ``PLANNER_*`` environment variables (or passed in directly)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of one API server.

    Every field can be set with an environment variable of the same name prefixed by
    ``PLANNER_``, e.g. ``PLANNER_API_KEY``, ``PLANNER_DATA_DIR``, ``PLANNER_CORS_ORIGINS``
    (a JSON list) or ``PLANNER_MAX_UPLOAD_MB``.
    """

    model_config = SettingsConfigDict(env_prefix="PLANNER_", extra="ignore")

    data_dir: Path = Field(
        Path("planner-data"), description="where the database, uploads and results are kept"
    )
    max_upload_mb: float = Field(200.0, gt=0, description="largest request body accepted, MB")
    max_decompressed_mb: float = Field(
        500.0, gt=0, description="largest size a compressed upload (.osm.bz2 …) may expand to, MB"
    )
    api_key: SecretStr | None = Field(
        None, description="when set, every /v1 request except health needs the header X-API-Key"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed to call the API from a browser"
    )
    workers: int = Field(1, ge=1, le=64, description="job worker processes running at once")
    dask_scheduler: str | None = Field(
        None, description="a Dask scheduler (tcp://host:8786) that runs the units of province "
        "jobs; its workers must see this server's data folder at the same path. Unset: a "
        "province job runs its units one after another in its worker process")
    max_queued: int = Field(
        100, ge=1, le=100_000,
        description="jobs waiting at most; beyond that a submission gets 429 with Retry-After")
    retention_days: float | None = Field(
        None, gt=0, description="delete finished jobs (with their results) and uploads older "
                                "than this many days; unset keeps them until deleted")
    header_timeout_s: float = Field(
        10.0, gt=0, le=300,
        description="close a connection that has not sent a request's headers within this, s")
    keep_alive_s: float = Field(
        5.0, gt=0, le=300, description="close an idle keep-alive connection after this, s")

    @property
    def retention_s(self) -> float | None:
        """The retention in seconds, or None (keep everything)."""
        return None if self.retention_days is None else self.retention_days * 86400.0

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_decompressed_bytes(self) -> int:
        """The decompressed-size limit of compressed uploads in bytes."""
        return int(self.max_decompressed_mb * 1024 * 1024)

    @property
    def db_path(self) -> Path:
        """The SQLite registry of networks, scenarios and jobs."""
        return self.data_dir / "planner.sqlite3"
