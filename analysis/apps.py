from django.apps import AppConfig


def recompute_on_data_change(sender, *, review_ids: list[int], **kwargs) -> None:  # noqa: ARG001
    """Answer studies' doorbell (``studies.services.entities.review_data_changed``, sent after a
    commit that moved data versions) by queueing recomputes. Looked up at call time, so the
    behaviour is analysis.tasks.recompute_request's, unchanged."""
    from analysis.tasks import recompute_request

    recompute_request(review_ids)


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Analysis"

    def ready(self) -> None:
        # studies must not import analysis (.importlinter), so analysis subscribes to studies'
        # signal instead of studies calling analysis.tasks.
        from studies.services.entities import review_data_changed

        review_data_changed.connect(recompute_on_data_change, dispatch_uid="analysis.recompute_on_data_change")
        # The demo review's summary-of-findings table is analysis's part of the demo.
        from analysis.services.summary_of_findings import demo_review_built
        from studies.services.demo import demo_review_built as built

        built.connect(demo_review_built, dispatch_uid="analysis.demo_review_built")
        # The same reason puts analysis's audited models in studies' audit trail by registration.
        from analysis.models import (
            GradeOverride, GradeOverrideEvent, ReleaseSchedule, ReleaseScheduleEvent, SummaryOfFindingsOutcome,
            SummaryOfFindingsOutcomeEvent,
        )
        from studies.audit import audit_entity_register

        for name, model, event_model, label in (
            ("grade-override", GradeOverride, GradeOverrideEvent, "GRADE judgment made by a person"),
            ("summary-of-findings", SummaryOfFindingsOutcome, SummaryOfFindingsOutcomeEvent,
             "Summary-of-findings outcome"),
            ("release-schedule", ReleaseSchedule, ReleaseScheduleEvent, "Release schedule"),
        ):
            audit_entity_register(name=name, model=model, event_model=event_model, review_path="review_id",
                                  label=label)
