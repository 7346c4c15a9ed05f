"""Model files on disk: written with a checksum, verified before LightGBM ever reads them.

LightGBM trusts its input: a truncated ``model.txt`` segfaults it, flipped bytes abort the
process, and changed leaf values of the same length load silently and score differently. So
``save_model`` records the sha256 of ``model.txt`` in ``metadata.json`` (and, through
training, in ``model_registry``), and ``load_verified_booster`` reads the bytes once, checks
them against both, and hands LightGBM exactly the bytes it checked (``model_str``), never the
path. Any mismatch is one ``DamagedFile`` error naming the file and saying to train again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import lightgbm as lgb

from recsql import leftovers, warehouse
from recsql.errors import DamagedFile

MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
TEMPORARY_PREFIX = ".tmp-"
# folders of a save killed before this module named temporaries by pid (.tmp-<uuid hex>)
LEGACY_TEMPORARY = re.compile(r"\.tmp-[0-9a-f]{32}")
RETRAIN = "run `recsql train` again"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remove_leftovers(models_dir: Path) -> list[Path]:
    """Remove ``.tmp-*`` folders of saves whose process is gone (a killed ``recsql train``).

    Complete model folders that never reached ``model_registry`` are left alone: scoring only
    loads registered models, so they are ignored, and another warehouse may share the folder.
    """
    return leftovers.remove_stale(models_dir, TEMPORARY_PREFIX, legacy=LEGACY_TEMPORARY)


def save_model(booster: lgb.Booster, metadata: dict[str, Any], target: Path) -> Path:
    """Write model.txt and metadata.json to a temp folder, then rename it into place.

    Sets ``metadata["model_sha256"]`` (the caller registers the same dict) before writing
    metadata.json, so the file, its metadata and the registry agree on the checksum.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target.parent)
    temporary = target.parent / leftovers.temporary_name(TEMPORARY_PREFIX)
    temporary.mkdir()
    try:
        model_file = temporary / MODEL_FILE
        booster.save_model(str(model_file), num_iteration=metadata["best_iteration"])
        metadata["model_sha256"] = sha256_of(model_file.read_bytes())
        (temporary / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
        os.replace(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DamagedFile(
            f"{path} is missing: the model folder is incomplete; {RETRAIN}"
        ) from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedFile(f"{path} is not valid JSON (damaged or edited): {RETRAIN}") from error
    if not isinstance(metadata, dict) or not isinstance(metadata.get("features"), list):
        raise DamagedFile(f"{path} does not describe a model (no feature list): {RETRAIN}")
    return metadata


def load_verified_booster(
    folder: Path, expected_sha256: str | None = None, *, version: str | None = None
) -> tuple[lgb.Booster, dict[str, Any]]:
    """(booster, metadata) of a model folder, after checking model.txt against its checksums.

    ``expected_sha256`` is the registry's record; ``version`` the registry's version name, which
    metadata.json must repeat (a folder of another model is refused, not used).
    """
    metadata = read_metadata(folder)
    metadata_path, model_path = folder / METADATA_FILE, folder / MODEL_FILE
    recorded = metadata.get("model_sha256")
    if not recorded:
        raise DamagedFile(
            f"{metadata_path} records no checksum of {MODEL_FILE} (saved by an older recsql),"
            f" so it cannot be verified: {RETRAIN}"
        )
    if version is not None and metadata.get("model_version") != version:
        raise DamagedFile(
            f"{metadata_path} describes model {metadata.get('model_version')!r}, not the registered"
            f" {version!r}: {RETRAIN}"
        )
    if expected_sha256 is not None and expected_sha256 != recorded:
        raise DamagedFile(
            f"{metadata_path} and model_registry disagree on the checksum of {MODEL_FILE}: {RETRAIN}"
        )
    try:
        data = model_path.read_bytes()
    except FileNotFoundError as error:
        raise DamagedFile(f"{model_path} is missing: {RETRAIN}") from error
    if sha256_of(data) != recorded:
        raise DamagedFile(
            f"{model_path} does not match the checksum recorded when it was trained"
            f" (truncated, damaged or edited): {RETRAIN}"
        )
    return lgb.Booster(model_str=data.decode("utf-8")), metadata


@dataclass(frozen=True)
class LoadedModel:
    version: str
    folder: Path
    booster: lgb.Booster
    metadata: dict[str, Any]


def load_registered_model(
    con: duckdb.DuckDBPyConnection, version: str | None = None
) -> LoadedModel:
    """The requested (or latest) registered model of this connection's warehouse, verified."""
    registered = warehouse.registered_model(con, version)
    booster, metadata = load_verified_booster(
        registered.folder, registered.sha256, version=registered.version
    )
    return LoadedModel(registered.version, registered.folder, booster, metadata)
