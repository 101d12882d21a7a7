"""How the tests are shared between pytest-xdist's two workers (tests/conftest.py)."""

from __future__ import annotations


def test_a_file_and_the_files_that_share_its_session_fixture_go_to_one_worker() -> None:
    """tests/conftest.py's xdist scheduler: xdist still splits work by ``_split_scope``, and a
    browser test file runs with the file whose session fixture it imports, the rest alone."""
    from conftest import worker_scope
    from xdist.scheduler import LoadFileScheduling

    assert callable(getattr(LoadFileScheduling, "_split_scope", None))
    assert worker_scope("tests/test_browser_report.py::test_x[a::b]") == worker_scope("tests/test_report.py::test_y") == "tests/test_report.py"
    assert worker_scope("tests/test_browser_serve.py::test_z") == "tests/test_serve.py"
    assert worker_scope("tests/test_perf.py::test_quick") == "tests/test_perf.py"
