"""The audit trail: every insert, update and delete of the rows that carry a review's judgments and
analysis inputs, written by database triggers (django-pghistory on django-pgtrigger), so bulk
``QuerySet.update()``, raw SQL and the admin are recorded as surely as the services.

Each tracked model gets an event model ``<Model>Event`` (table ``studies_<model>event``): a snapshot
of the row (the new row for inserts and updates, the old row for deletes), ``pgh_created_at``,
``pgh_label`` (insert/update/delete), ``pgh_obj`` (the row) and ``pgh_context`` (who and which URL,
attached by ``pghistory.middleware.HistoryMiddleware``; empty for changes made outside a request).
Old values of an update are the previous snapshot of the same row (``studies.selectors.audit``).
Migration 0007 adds a trigger that refuses UPDATE and DELETE on every event table (and each migration
that adds an event table adds it there too, e.g. the team's).
"""
import pghistory

from studies.models.outcomes import OutcomeData, StudyEstimate
from studies.models.prioritisation import ScreeningPrioritisation, StoppingDecision
from studies.models.reviews import Review, ReviewMembership
from studies.models.risk_of_bias import (
    RiskOfBiasAssessment,
    RiskOfBiasJudgment,
    Rob2Assessment,
    Rob2DomainJudgment,
    Rob2SignallingAnswer,
)
from studies.models.screening import ScreeningDecision, ScreeningResolution
from studies.models.studies import Report, Study
from studies.models.team import Invitation

# Review: its settings, not the counter that every analysis input moves (that would log an event
# per edit of anything, and the edit itself is already in the trail).
# Invitation: the secret half of its link never enters the trail (the trail is readable by every
# manager, and an old key must not help anyone rebuild a link).
_UNTRACKED = {Review: ["data_version", "updated_at", "latest_release_at"], Invitation: ["link_key"]}

AUDITED_MODELS = (
    Review, Study, Report, ScreeningDecision, ScreeningResolution, OutcomeData, RiskOfBiasAssessment,
    RiskOfBiasJudgment, Rob2Assessment, Rob2DomainJudgment, Rob2SignallingAnswer, ReviewMembership, Invitation,
    StudyEstimate, ScreeningPrioritisation, StoppingDecision,
)

# Model → its event model, created here while the app's models load (as ``@pghistory.track`` would,
# without touching the models' own modules).
EVENT_MODELS = {
    model: pghistory.create_event_model(
        model, pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
        exclude=_UNTRACKED.get(model), model_name=f"{model.__name__}Event", abstract=False,
        # ``audit_events``, not pghistory's default ``events``: OutcomeData has a field of that name.
        obj_field=pghistory.ObjForeignKey(related_name="audit_events"),
    )
    for model in AUDITED_MODELS
}
