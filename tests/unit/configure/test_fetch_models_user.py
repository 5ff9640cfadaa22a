"""The model fetcher runs as the model's user (aimachine-models.service: User=vllm): it hands files over
only as root, since that unit's system call filter refuses chown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aimachine.onvm import fetch_models


def test_as_the_models_user_it_chowns_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def refused(*_args, **_kwargs):
        raise PermissionError("chown is filtered")

    monkeypatch.setattr(fetch_models.os, "geteuid", lambda: 999)
    monkeypatch.setattr(fetch_models.os, "chown", refused)
    fetch_models._makedirs(tmp_path / "hub" / "blobs", 999, 999)
    fetch_models._own(tmp_path / "hub", 999, 999)
    assert (tmp_path / "hub" / "blobs").is_dir()


def test_as_root_it_hands_the_files_to_the_models_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    handed = []
    monkeypatch.setattr(fetch_models.os, "geteuid", lambda: 0)
    monkeypatch.setattr(fetch_models.os, "chown", lambda path, uid, gid, **_: handed.append((path, uid, gid)))
    fetch_models._makedirs(tmp_path / "hub" / "blobs", 999, 998)
    assert handed == [(tmp_path / "hub", 999, 998), (tmp_path / "hub" / "blobs", 999, 998)]
    assert os.path.isdir(tmp_path / "hub" / "blobs")
