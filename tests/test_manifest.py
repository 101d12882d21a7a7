"""The manifest records the code a run ran."""

from __future__ import annotations

import subprocess

import pytest

from bench import manifest


def test_git_revision_is_read_once_when_the_run_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest.git_revision.cache_clear()
    first = manifest.git_revision()

    def moved_on(*args, **kwargs):  # the tree changes while the run goes on
        return subprocess.CompletedProcess(args, 0, stdout="f" * 40 + "\n", stderr="")

    monkeypatch.setattr(manifest.subprocess, "run", moved_on)
    assert manifest.git_revision() == first
    assert manifest.build_manifest()["git_revision"] == first
    manifest.git_revision.cache_clear()
    assert manifest.git_revision() == "f" * 40 + "-dirty"  # what a fresh process would read
    manifest.git_revision.cache_clear()
