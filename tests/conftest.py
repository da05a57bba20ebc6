"""How ``make test`` shares the suite between its two workers (pytest-xdist).

Each test file is one unit of work, so a module's fixtures (a node, a loaded collection) are set
up once, on one worker, and its tests run in their order. Every module that starts a
multi-node cluster joins a single unit, ``cluster``: those modules run one after another on one
worker, so the box never hosts two clusters at once and their elections and failovers keep the
timing they were written for, while the other worker runs everything else. Most of the suite
waits (for a node to start, a leader to be elected, a transfer to finish), which is why two
workers on two cores help.

A module starts clusters when it uses ``tests.support.cluster`` or says so with
``pytestmark = pytest.mark.cluster``. The controller, which collects no test, tells from the
module's text; the scheduler is ours because xdist's own ``loadgroup`` marks do not take effect
under pytest 9 (its tests of one group landed on both workers).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

CLUSTER_GROUP = "cluster"
_CLUSTER_SIGNS = ("tests.support.cluster", "pytest.mark.cluster")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: the module starts several nodes (it shares one xdist worker with "
        "every other such module)"
    )


@functools.cache
def _starts_clusters(path: Path) -> bool:
    try:
        text = path.read_text()
    except OSError:
        return False
    return any(sign in text for sign in _CLUSTER_SIGNS)


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: pytest -p no:xdist still runs
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class ByFileClustersTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return CLUSTER_GROUP if _starts_clusters(root / module) else module

    return ByFileClustersTogether(config, log)


#: ``record_property("figures", line)`` in a test: the line is printed at the end of the run,
#: whichever worker ran the test (a worker's own output is not shown).
FIGURES = "figures"
_figures: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _figures.extend(str(value) for name, value in report.user_properties if name == FIGURES)


def pytest_terminal_summary(terminalreporter) -> None:
    if _figures:
        terminalreporter.section(FIGURES)
        for line in _figures:
            terminalreporter.write_line(line)
