"""Risk of bias over REST: RoB 1 (per study) and RoB 2 (per result) assessments.

Reads go through ``studies.access`` (another assessor's assessment shows only once
both submitted); writes through ``studies.services.risk_of_bias``, which validates a whole
assessment and replaces it in one transaction. An assessor writes only their own assessment; the
consensus (``is_consensus``) is written by one of the two assessors or a manager, as the service
decides. There is no DELETE: an assessment is replaced, never withdrawn (its history is the audit
trail).
"""
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied

from studies import access, selectors
from studies.api.access import TEAM
from studies.api.resources import ReviewScoped
from studies.api.screening import _ServiceSerializer, service_errors
from studies.models import (
    Judgment, RiskOfBiasAssessment, Rob2Answer, Rob2Assessment, Rob2Domain, Rob2Judgment, RobDomain, Role,
)
from studies.services.risk_of_bias import (
    Override, Rob1Entry, Rob2Entry, rob1_assessment_save, rob1_consensus_save, rob2_assessment_save,
    rob2_consensus_save,
)

ASSESSMENT_WRITERS = frozenset({Role.ASSESSOR, Role.MANAGER})


class Rob1JudgmentSerializer(serializers.Serializer):
    domain = serializers.ChoiceField(choices=RobDomain.choices)
    judgment = serializers.ChoiceField(choices=Judgment.choices)
    support = serializers.CharField(required=False, allow_blank=True, default="")


class Rob1AssessmentSerializer(_ServiceSerializer):
    """One assessor's RoB 1 judgments of a study, or the consensus. ``submit`` (write-only) submits
    a complete assessment; after that it no longer changes."""

    # Null for a consensus imported by a command (``imported_from`` names its file).
    assessor = serializers.CharField(source="assessor.username", read_only=True, allow_null=True)
    judgments = Rob1JudgmentSerializer(many=True, required=False)
    submit = serializers.BooleanField(write_only=True, required=False, default=False)

    class Meta:
        model = RiskOfBiasAssessment
        # ``imported_from``: where an imported consensus came from (a RevMan file); its assessor may be null.
        fields = ["id", "study", "assessor", "is_consensus", "imported_from", "submitted_at", "judgments", "submit",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "assessor", "imported_from", "submitted_at", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None and hasattr(self.instance, "pk"):
            self.fields["study"].read_only = self.fields["is_consensus"].read_only = True


def _rob1_entry(rows: list[dict]) -> Rob1Entry:
    return Rob1Entry(judgments={row["domain"]: row["judgment"] for row in rows},
                     support={row["domain"]: row.get("support", "") for row in rows})


class Rob1AssessmentViewSet(ReviewScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                            mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    model = RiskOfBiasAssessment
    serializer_class = Rob1AssessmentSerializer
    read_roles = TEAM
    write_roles = ASSESSMENT_WRITERS
    filterset_fields = ["study", "is_consensus"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RiskOfBiasAssessment.objects.none()
        return access.rob1_assessments_visible(self.request.user, selectors.rob1_assessments(self.review)).order_by("id")

    def _save(self, serializer, study, is_consensus: bool, rows: list[dict], submit: bool):
        user, entry = self.request.user, _rob1_entry(rows)
        with service_errors():
            if is_consensus:
                saved = rob1_consensus_save(study=study, recorded_by=user, entry=entry)
            else:
                saved = rob1_assessment_save(study=study, assessor=user, entry=entry, submit=submit)
        serializer.instance = self.get_queryset().get(pk=saved.pk)

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        self._save(serializer, data["study"], data.get("is_consensus", False), data.get("judgments", []),
                   data.get("submit", False))

    def perform_update(self, serializer) -> None:
        assessment, data = serializer.instance, serializer.validated_data
        if not assessment.is_consensus and assessment.assessor_id != self.request.user.pk:
            raise PermissionDenied("You can change only your own assessment.")
        rows = data.get("judgments")
        if rows is None:  # a partial update keeps the judgments it does not send
            rows = [{"domain": j.domain, "judgment": j.judgment, "support": j.support}
                    for j in assessment.judgments.all()]
        self._save(serializer, assessment.study, assessment.is_consensus, rows, data.get("submit", False))


class Rob2OverrideSerializer(serializers.Serializer):
    judgment = serializers.ChoiceField(choices=[("", "None"), *Rob2Judgment.choices], allow_blank=True)
    justification = serializers.CharField(required=False, allow_blank=True, default="")


class Rob2DomainSerializer(serializers.Serializer):
    domain = serializers.CharField()
    proposed = serializers.CharField()
    override = serializers.CharField()
    justification = serializers.CharField()


class Rob2AssessmentSerializer(_ServiceSerializer):
    """One assessor's RoB 2 assessment of a result (study × outcome), or the consensus: answers to
    the signalling questions (``{"1.1": "Y", ...}``), support per question, and optional overrides
    per domain and overall; the proposed judgments are the algorithm's (read-only)."""

    assessor = serializers.CharField(source="assessor.username", read_only=True)
    answers = serializers.DictField(child=serializers.ChoiceField(choices=[("", "Unanswered"), *Rob2Answer.choices],
                                                                  allow_blank=True), required=False,
                                    source="answer_map")
    comments = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                     source="comment_map")
    domain_overrides = serializers.DictField(child=Rob2OverrideSerializer(), required=False, write_only=True)
    overall = Rob2OverrideSerializer(required=False, write_only=True)
    domains = Rob2DomainSerializer(many=True, read_only=True)
    # Plain strings: empty while incomplete or not overridden (the model's choices omit "").
    overall_proposed = serializers.CharField(read_only=True)
    overall_override = serializers.CharField(read_only=True)
    submit = serializers.BooleanField(write_only=True, required=False, default=False)

    class Meta:
        model = Rob2Assessment
        fields = ["id", "study", "outcome", "assessor", "is_consensus", "submitted_at", "answers", "comments",
                  "domains", "domain_overrides", "overall", "overall_proposed", "overall_override",
                  "overall_justification", "submit", "created_at", "updated_at"]
        read_only_fields = ["id", "assessor", "submitted_at", "overall_proposed", "overall_override",
                            "overall_justification", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None and hasattr(self.instance, "pk"):
            for name in ("study", "outcome", "is_consensus"):
                self.fields[name].read_only = True

    def to_representation(self, instance):
        answers = list(instance.answers.all())  # prefetched by the selector
        instance.answer_map = {a.question: a.answer for a in answers}
        instance.comment_map = {a.question: a.comment for a in answers}
        return super().to_representation(instance)


def _rob2_entry(assessment: Rob2Assessment | None, data: dict) -> Rob2Entry:
    """The entry to save: what the client sent, the rest kept from the stored assessment."""
    answers = {a.question: a.answer for a in assessment.answers.all()} if assessment else {}
    comments = {a.question: a.comment for a in assessment.answers.all()} if assessment else {}
    overrides = {d.domain: Override(d.override, d.justification) for d in assessment.domains.all()} if assessment \
        else {}
    overall = Override(assessment.overall_override, assessment.overall_justification) if assessment else Override()
    if "answer_map" in data:
        answers = dict(data["answer_map"])
    if "comment_map" in data:
        comments = dict(data["comment_map"])
    if "domain_overrides" in data:
        unknown = set(data["domain_overrides"]) - set(Rob2Domain.values)
        if unknown:
            raise serializers.ValidationError({"domain_overrides": [f"No RoB 2 domain {sorted(unknown)[0]!r}."]})
        overrides = {key: Override(v["judgment"], v.get("justification", "")) for key, v in
                     data["domain_overrides"].items()}
    if "overall" in data:
        overall = Override(data["overall"]["judgment"], data["overall"].get("justification", ""))
    return Rob2Entry(answers=answers, comments=comments, domain_overrides=overrides, overall_override=overall)


class Rob2AssessmentViewSet(Rob1AssessmentViewSet):
    model = Rob2Assessment
    serializer_class = Rob2AssessmentSerializer
    filterset_fields = ["study", "outcome", "is_consensus"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Rob2Assessment.objects.none()
        return access.rob2_assessments_visible(self.request.user, selectors.rob2_assessments(self.review)).order_by("id")

    def _save2(self, serializer, *, study, outcome, is_consensus: bool, entry: Rob2Entry, submit: bool) -> None:
        user = self.request.user
        with service_errors():
            if is_consensus:
                saved = rob2_consensus_save(study=study, outcome=outcome, recorded_by=user, entry=entry)
            else:
                saved = rob2_assessment_save(study=study, outcome=outcome, assessor=user, entry=entry, submit=submit)
        serializer.instance = self.get_queryset().get(pk=saved.pk)

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        self._save2(serializer, study=data["study"], outcome=data["outcome"],
                    is_consensus=data.get("is_consensus", False), entry=_rob2_entry(None, data),
                    submit=data.get("submit", False))

    def perform_update(self, serializer) -> None:
        assessment, data = serializer.instance, serializer.validated_data
        if not assessment.is_consensus and assessment.assessor_id != self.request.user.pk:
            raise PermissionDenied("You can change only your own assessment.")
        self._save2(serializer, study=assessment.study, outcome=assessment.outcome,
                    is_consensus=assessment.is_consensus, entry=_rob2_entry(assessment, data),
                    submit=data.get("submit", False))

