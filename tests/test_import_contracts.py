"""The import rules in ``.importlinter`` hold, and they can fail.

``./dev test`` runs ``lint-imports`` before pytest (reviewsite/embedded.py); these tests run it
from pytest too, show that the project's own contracts catch the imports they are there to catch,
and check the doorbell that replaced studies' import of analysis.tasks.
"""
from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import textwrap

import pytest

from importlinter import api as _configure_importlinter  # noqa: F401  (sets up importlinter's settings)
from importlinter.application import use_cases
from importlinter.application.app_config import settings as importlinter_settings

BASE_DIR = Path(__file__).resolve().parent.parent
CONFIG = BASE_DIR / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_project_keeps_its_import_contracts():
    result = subprocess.run([str(LINT_IMPORTS), "--config", str(CONFIG), "--no-cache", "--no-logo"],
                            cwd=BASE_DIR, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_is_reported(tmp_path, monkeypatch, capsys):
    """A throwaway package whose engine imports Django, under a contract shaped like ours."""
    package = tmp_path / "contractprobe"
    (package / "engine").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "engine" / "__init__.py").write_text("")
    (package / "engine" / "pooling.py").write_text("import django\n")
    (package / "views.py").write_text("from contractprobe.engine import pooling\n")
    config = tmp_path / ".importlinter"
    config.write_text(textwrap.dedent("""\
        [importlinter]
        root_package = contractprobe
        include_external_packages = True

        [importlinter:contract:engine]
        name = The engine imports no Django
        type = forbidden
        source_modules = contractprobe.engine
        forbidden_modules =
            django
            contractprobe.*
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)

    assert use_cases.lint_imports(config_filename=str(config), cache_dir=None, no_logo=True) is False
    out = capsys.readouterr().out
    assert "BROKEN" in out and "contractprobe.engine.pooling -> django" in out

    (package / "engine" / "pooling.py").write_text("import math\n")
    assert use_cases.lint_imports(config_filename=str(config), cache_dir=None, no_logo=True) is True


class _GraphWithExtraImports:
    """import-linter's graph builder, plus imports the test adds (its settings are its seam for this)."""

    def __init__(self, inner, extra: list[tuple[str, str]]):
        self.inner, self.extra = inner, extra

    def build(self, **options):
        graph = self.inner.build(**options)
        for importer, imported in self.extra:
            graph.add_import(importer=importer, imported=imported)
        return graph


@pytest.mark.parametrize(("contract", "importer", "imported"), [
    ("engine-has-no-django", "analysis.engine.pooling", "django.db.transaction"),
    ("engine-has-no-django", "analysis.engine.pooling", "analysis.models"),
    ("studies-below-analysis", "studies.services.entities", "analysis.tasks"),
    ("studies-below-analysis", "studies.selectors", "analysis.figures.prisma"),
    ("views-write-through-services", "studies.pages.screening", "django.db.transaction"),
    ("views-write-through-services", "analysis.pages.reader", "django.db.transaction"),
    ("studies-layers", "studies.models.reviews", "studies.services.entities"),
    ("analysis-layers", "analysis.models", "analysis.services"),
])
def test_our_contracts_catch_the_imports_they_forbid(monkeypatch, capsys, contract, importer, imported):
    """The project's real contracts, on the project's real import graph plus one bad import."""
    monkeypatch.chdir(BASE_DIR)
    builder = _GraphWithExtraImports(importlinter_settings.GRAPH_BUILDER, [(importer, imported)])
    previous = importlinter_settings.GRAPH_BUILDER
    importlinter_settings.configure(GRAPH_BUILDER=builder)
    try:
        kept = use_cases.lint_imports(config_filename=str(CONFIG), limit_to_contracts=(contract,),
                                      cache_dir=None, no_logo=True)
    finally:
        importlinter_settings.configure(GRAPH_BUILDER=previous)
    out = capsys.readouterr().out
    assert kept is False, out
    assert importer in out


def test_studies_rings_the_analysis_doorbell_after_commit(small, monkeypatch, django_capture_on_commit_callbacks):
    """studies no longer imports analysis.tasks: a change to an analysis input still asks for a
    recompute of its review, once the transaction commits, through AnalysisConfig's receiver."""
    from analysis import tasks
    from studies.services import entity_save

    asked: list[list[int]] = []
    monkeypatch.setattr(tasks, "recompute_request", asked.append)
    small.data.mean = -5.0
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        entity_save(instance=small.data)
    assert asked == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert asked == [[small.review.pk]]
