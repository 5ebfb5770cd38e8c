"""The back office as a manager uses it: every page opens, page cost does not grow with the data,
a manager sees only their own reviews, and edits go through the same validation as every path."""
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
import pytest

from studies.models import (
    Arm,
    DataType,
    Direction,
    EffectMeasure,
    ImportBatch,
    Outcome,
    OutcomeSubgroup,
    RevManImport,
    StudyEstimate,
    SearchSource,
    OutcomeData,
    Record,
    Review,
    ReviewMembership,
    ScreeningDecision,
    Study,
)
from studies.services import entity_save
from studies.services.entities import REVIEW_LOOKUP

STUDIES_MODELS = [model for model in admin.site._registry if model._meta.app_label == "studies"]


def test_every_model_of_the_review_database_is_in_the_admin():
    assert set(STUDIES_MODELS) == set(REVIEW_LOOKUP)


@pytest.fixture
def demo_manager(client, demo_review):
    user = get_user_model().objects.get(username="demo-manager")
    client.force_login(user)
    return user


def url(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(queries)


def demo_object(model, review: Review):
    path = REVIEW_LOOKUP[model]
    return model.objects.filter(**{path: review.pk}).order_by("pk").first() or revman_object(model, review)


def revman_object(model, review: Review):
    """A row of the kinds only a RevMan import creates (the demo review has none), added for the test:
    a generic inverse-variance outcome with a subgroup and a study estimate, and the import record."""
    if model is RevManImport:
        return entity_save(instance=RevManImport(review=review, file_name="demo.rm5", sha256="0" * 64))
    if model not in (OutcomeSubgroup, StudyEstimate):
        return None
    outcome = entity_save(instance=Outcome(
        review=review, domain=review.outcome_domains.first(), name="Time to relapse (HR)", data_type=DataType.GENERIC,
        effect_measure=EffectMeasure.GENERIC, direction=Direction.LOWER_IS_BETTER, generic_measure="Hazard Ratio",
        log_scale=True, revman_number="9.1"))
    subgroup = entity_save(instance=OutcomeSubgroup(outcome=outcome, name="Adults"))
    estimate = entity_save(instance=StudyEstimate(
        study=review.studies.first(), outcome=outcome, time_point=review.time_points.get(is_analysis_default=True),
        subgroup=subgroup, estimate=-0.2, se=0.1))
    return subgroup if model is OutcomeSubgroup else estimate


@pytest.mark.parametrize("model", STUDIES_MODELS, ids=lambda m: m.__name__)
def test_manager_opens_changelist_add_and_change_pages(client, rf, demo_manager, demo_review, model):
    assert client.get(url(model, "changelist")).status_code == 200
    request = rf.get("/")
    request.user = demo_manager
    # Some entities are only created by their workflow (duplicate pairs by imports): add is refused.
    may_add = admin.site._registry[model].has_add_permission(request)
    assert client.get(url(model, "add")).status_code == (200 if may_add else 403)
    obj = demo_object(model, demo_review)
    assert obj is not None, f"the demo review has no {model.__name__}"
    response = client.get(url(model, "change", obj.pk))
    assert response.status_code == 200


@pytest.mark.parametrize("model", STUDIES_MODELS, ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(client, small, demo_review, model):
    """The same page for a review with a handful of rows and for the demo review with thousands."""
    demo_manager = get_user_model().objects.get(username="demo-manager")
    client.force_login(small.manager)
    few = count_queries(client, url(model, "changelist"))
    client.force_login(demo_manager)
    many = count_queries(client, url(model, "changelist"))
    assert many == few
    assert many <= 12


@pytest.mark.parametrize(
    ("model", "pick"),
    [
        (Study, lambda review: review.studies.order_by("pk").first()),
        (Review, lambda review: review),
        (Record, lambda review: review.records.filter(decisions__isnull=False).order_by("pk").first()),
    ],
    ids=["study", "review", "record"],
)
def test_change_pages_with_inlines_do_not_grow_with_rows(client, small, demo_review, model, pick):
    demo_manager = get_user_model().objects.get(username="demo-manager")
    if model is Record:  # a record like the demo's: from an import batch, with one decision
        source = SearchSource.objects.create(review=small.review, database="PubMed", date_searched="2024-01-01")
        batch = ImportBatch.objects.create(review=small.review, source=source, file_name="a.ris",
                                           file_format="ris", sha256="b" * 64)
        small_obj = Record.objects.create(review=small.review, title="x", import_batch=batch)
        ScreeningDecision.objects.create(record=small_obj, stage="title_abstract", screener=small.manager,
                                         decision="include")
    else:
        small_obj = pick(small.review)
    client.force_login(small.manager)
    client.get(url(model, "change", small_obj.pk))  # the process's first view fills Django's content-type cache
    few = count_queries(client, url(model, "change", small_obj.pk))
    client.force_login(demo_manager)
    many = count_queries(client, url(model, "change", pick(demo_review).pk))
    assert many == few


def test_a_manager_sees_only_their_reviews(client, small, demo_review):
    client.force_login(small.manager)
    listing = client.get(url(OutcomeData, "changelist")).content.decode()
    assert "Only 2020" in listing
    assert "Trial A" not in listing
    demo_study = demo_review.studies.first()
    response = client.get(url(Study, "change", demo_study.pk))
    assert response.status_code == 302  # the admin's answer for an object you cannot see
    reviews = client.get(url(Review, "changelist")).content.decode()
    assert "Small review" in reviews and demo_review.title not in reviews


def test_a_user_without_a_staff_role_is_sent_to_the_login(client, demo_review):
    screener = get_user_model().objects.get(username="demo-screener-1")
    client.force_login(screener)
    response = client.get(url(ScreeningDecision, "changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def inline_form_data(client, study: Study) -> dict[str, str]:
    """The study change form as the browser would post it back, unchanged."""
    response = client.get(url(Study, "change", study.pk))
    form = response.context["adminform"].form
    data: dict[str, str] = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is not None:
            data[name] = "on" if value is True else ("" if value is False else str(value))
    for formset in response.context["inline_admin_formsets"]:
        fs = formset.formset
        prefix = fs.prefix
        data[f"{prefix}-TOTAL_FORMS"] = str(fs.total_form_count())
        data[f"{prefix}-INITIAL_FORMS"] = str(fs.initial_form_count())
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
        for sub in fs.forms:
            for name, field in sub.fields.items():
                value = sub.initial.get(name, field.initial)
                if hasattr(value, "pk"):
                    value = value.pk
                if value is True:
                    data[sub.add_prefix(name)] = "on"
                elif value not in (None, False):
                    data[sub.add_prefix(name)] = str(value)
    data = {k: v for k, v in data.items() if v != "" or k.endswith("FORMS")}
    return data


def test_manager_changes_outcome_data_inline_and_bad_sd_is_refused(client, demo_manager, demo_review):
    study = demo_review.studies.order_by("label").first()
    row = OutcomeData.objects.filter(study=study).order_by("pk").first()
    index = list(OutcomeData.objects.filter(study=study).order_by(*OutcomeData._meta.ordering)
                 .values_list("pk", flat=True)).index(row.pk)
    version = Review.objects.get(pk=demo_review.pk).data_version
    data = inline_form_data(client, study)
    prefix = next(k.split("-")[0] for k in data if k.endswith("-TOTAL_FORMS") and "outcome_data" in k)
    assert data[f"{prefix}-{index}-id"] == str(row.pk)

    data[f"{prefix}-{index}-mean"] = "-7.25"
    response = client.post(url(Study, "change", study.pk), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    row.refresh_from_db()
    assert row.mean == -7.25
    assert Review.objects.get(pk=demo_review.pk).data_version > version

    data[f"{prefix}-{index}-sd"] = "-1"
    data[f"{prefix}-{index}-mean"] = "99"
    response = client.post(url(Study, "change", study.pk), data)
    assert response.status_code == 200
    assert "SD must be greater than 0 (got -1)." in response.content.decode()
    row.refresh_from_db()
    assert row.mean == -7.25 and row.sd > 0  # nothing of the refused form was saved


def test_bulk_delete_action_goes_through_services(client, demo_manager, demo_review):
    arm_ids = list(Arm.objects.filter(study__review=demo_review, study__label__startswith="Trial G")
                   .values_list("pk", flat=True))
    assert len(arm_ids) == 2
    version = Review.objects.get(pk=demo_review.pk).data_version
    response = client.post(url(Arm, "changelist"), {
        "action": "delete_selected", "post": "yes", "_selected_action": [str(pk) for pk in arm_ids],
    })
    assert response.status_code == 302
    assert not Arm.objects.filter(pk__in=arm_ids).exists()
    assert not OutcomeData.objects.filter(arm_id__in=arm_ids).exists()
    assert Review.objects.get(pk=demo_review.pk).data_version == version + 1


def test_managers_cannot_list_the_sites_accounts(client, small, demo_review):
    """People are offered only from the manager's own teams; the user list is not theirs to read."""
    client.force_login(small.manager)
    assert client.get("/admin/auth/user/").status_code == 403
    page = client.get(url(ReviewMembership, "add")).content.decode()
    assert "small-manager" in page
    assert "demo-screener-1" not in page
