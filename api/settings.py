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
