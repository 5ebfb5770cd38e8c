"""A release against the real living loop: a Celery worker (with beat) recomputes as the data change,
the release's numbers stay where they were while the living ones move, and the release's own
downloads reproduce it with R's metafor after the living data changed. Transactional: the worker
reads the committed data from its own connections."""
from __future__ import annotations

from io import StringIO
import json
import shutil
import subprocess
import threading
import time

from django.core.management import call_command
from django.db import connection as thread_connection
import pytest

from analysis import selectors, services
from analysis.pages.release_capture import snapshot_capture
from analysis.services.releases import ReleaseRefused, release_create
from analysis.models import OutcomeResult, Release, ReviewAnalysisState
from studies.models import Arm, ArmRole, OutcomeData, Review, Study
from studies.services import entity_save
from tests.analysis.test_living_worker import wait_converged

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Appended to a downloaded R script: the pooled result as the script computed it, to full precision.
R_RESULT = "\ncat(sprintf('\\nRESULT %.10f %.10f %.10f %d\\n', res$b[1], res$ci.lb, res$ci.ub, res$k))\n"


def living_overall(review: Review) -> OutcomeResult:
    run = ReviewAnalysisState.objects.get(review=review).current_run
    return OutcomeResult.objects.get(run=run, subgroup_field=None, analysis_set="main")


def run_r(tmp_path, name: str, script: str, csv: bytes) -> tuple[float, float, float, int]:
    """Run a downloaded R script beside its downloaded data.csv; the pooled result it prints."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "analysis.R").write_text(script + R_RESULT)
    (folder / "data.csv").write_bytes(csv)
    run = subprocess.run(["Rscript", "analysis.R"], cwd=folder, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT"))
    estimate, low, high, k = line.split()[1:]
    return float(estimate), float(low), float(high), int(k)


def test_a_release_stays_put_while_the_living_analysis_moves_and_its_downloads_reproduce_it(
        worker, small, client, tmp_path):
    # R is the independent oracle; missing, it is a failure (`./dev test` installs r-cran-metafor).
    assert shutil.which("Rscript"), "The release reproduction test needs R's metafor: apt-get install r-cran-metafor"
    Review.objects.filter(pk=small.review.pk).update(is_public=True)
    second = entity_save(instance=Study(review=small.review, label="Second 2022", year=2022))
    for role, mean in ((ArmRole.INTERVENTION, -3.1), (ArmRole.CONTROL, -0.4)):
        arm = entity_save(instance=Arm(study=second, role=role, label=role.label, randomised=45))
        entity_save(instance=OutcomeData(study=second, outcome=small.outcome, time_point=small.time_point, arm=arm,
                                         n=44, mean=mean, sd=5.4))
    wait_converged(small.review, 60)

    out = StringIO()
    call_command("release_create", review=small.review.slug, note="Before the correction", stdout=out)
    answer = json.loads(out.getvalue())
    assert answer["version"] == "1.0.0"
    released = living_overall(small.review)
    released_numbers = (released.estimate, released.ci_low, released.ci_high, released.k)
    api = f"/api/reviews/{small.review.slug}/releases/1.0.0/analysis/"
    released_json = client.get(api).json()
    assert released_json == client.get(f"/api/reviews/{small.review.slug}/analysis/").json()
    outcome_path = f"{answer['url']}outcomes/{small.outcome.pk}/"
    released_page = client.get(outcome_path).content

    # Later edits: the worker recomputes, the living numbers move.
    small.data.mean = -9.5
    entity_save(instance=small.data)
    wait_converged(small.review)
    living = living_overall(small.review)
    assert (living.estimate, living.ci_low, living.ci_high) != released_numbers[:3]

    # The release did not move: its API answer, its pages.
    assert client.get(api).json() == released_json
    assert client.get(outcome_path).content == released_page
    assert Release.objects.get(review=small.review).data_version < Review.objects.get(pk=small.review.pk).data_version

    # Its downloads reproduce it with metafor; the living downloads give the living numbers.
    script = client.get(f"{outcome_path}analysis.R").content.decode()
    csv = client.get(f"{answer['url']}data.csv").content
    estimate, low, high, k = run_r(tmp_path, "release", script, csv)
    assert k == released_numbers[3] == 2
    assert (estimate, low, high) == (pytest.approx(released_numbers[0], abs=1e-8),
                                     pytest.approx(released_numbers[1], abs=1e-8),
                                     pytest.approx(released_numbers[2], abs=1e-8))
    living_script = client.get(f"/reviews/{small.review.slug}/outcomes/{small.outcome.pk}/analysis.R").content.decode()
    living_csv = b"".join(client.get(f"/reviews/{small.review.slug}/data.csv").streaming_content)
    now = run_r(tmp_path, "living", living_script, living_csv)
    assert now[0] == pytest.approx(living.estimate, abs=1e-8) and now[0] != pytest.approx(estimate, abs=1e-6)

    # The next release is cut from the worker's new results.
    out = StringIO()
    call_command("release_create", review=small.review.slug, stdout=out)
    following = selectors.release_of(small.review, json.loads(out.getvalue())["version"])
    assert following.version != "1.0.0" and following.headline[0]["estimate"] == living.estimate


def test_two_managers_cutting_at_once_get_one_release_and_a_clear_refusal(small):
    """Each cut runs in its own connection; the second waits for the first and then finds nothing new
    (without the lock both would read "no release yet" and one would fail on the unique version)."""
    services.review_recompute(small.review.pk)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def slow_capture(*args):
        time.sleep(0.5)  # a long cut: the other manager presses the button meanwhile
        return snapshot_capture(*args)

    def press() -> None:
        try:
            start.wait()
            release = release_create(review=small.review, user=small.manager, capture=slow_capture)
            outcomes.append(release.version)
        except ReleaseRefused as refused:
            outcomes.append(refused.code)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["1.0.0", "unchanged"]
    assert Release.objects.filter(review=small.review).count() == 1
