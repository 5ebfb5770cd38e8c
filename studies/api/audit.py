"""``GET /api/reviews/<slug>/audit/``: the review's audit trail, for its managers (blinded as
``studies.audit`` explains)."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.api.access import MANAGER, ReviewRoleAccess, request_review
from studies.audit import ACTIONS, ENTITIES, audit_trail


class AuditQuerySerializer(serializers.Serializer):
    """The filters of ``studies.audit.audit_trail`` (the audit page offers the same)."""

    entity = serializers.MultipleChoiceField(choices=sorted(ENTITIES), required=False,
                                             help_text="Only these entities (repeat the parameter for several).")
    user = serializers.IntegerField(min_value=1, required=False, help_text="Only changes made by this user (id).")
    record = serializers.IntegerField(min_value=1, required=False,
                                      help_text="Only events about this record (id): decisions, resolutions, reports.")
    study = serializers.IntegerField(min_value=1, required=False,
                                     help_text="Only events about this study (id): the study, its reports, outcome "
                                               "data and risk of bias.")
    since = serializers.DateTimeField(required=False, help_text="Only changes at or after this moment (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Only changes before this moment (ISO 8601; "
                                                                "a date alone means its midnight).")
    action = serializers.MultipleChoiceField(choices=ACTIONS, required=False,
                                             help_text="Only these actions (repeat the parameter for several).")
    page = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=1000, default=100)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The entities as they are now: apps above studies register theirs at start-up (AppConfig.ready),
        # which may come after this module is first imported.
        self.fields["entity"].choices = sorted(ENTITIES)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "until must be later than since."})
        return attrs


class AuditEventSerializer(serializers.Serializer):
    entity = serializers.ChoiceField(choices=sorted(ENTITIES))
    event_id = serializers.IntegerField()
    object_id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["insert", "update", "delete"])
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True, help_text="Who, when the change came through a request.")
    url = serializers.CharField(allow_null=True)
    old = serializers.JSONField(allow_null=True, help_text="The row before the change (empty for an insert).")
    new = serializers.JSONField(allow_null=True, help_text="The row after the change (empty for a delete).")
    changed = serializers.ListField(child=serializers.CharField())


class AuditPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    results = AuditEventSerializer(many=True)


@extend_schema(parameters=[AuditQuerySerializer], responses=AuditPageSerializer)
class AuditTrailView(APIView):
    """Who changed what and when in the review: decisions, resolutions, outcome data, risk of bias,
    studies, reports, settings, team roles and invitations, newest first."""

    permission_classes = [ReviewRoleAccess]
    read_roles = MANAGER
    write_roles = frozenset()

    def get(self, request: Request, slug: str) -> Response:
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        given = query.validated_data
        page, size = given["page"], given["page_size"]
        count, events = audit_trail(user=request.user, review=request_review(request, slug),
                                    entities=sorted(given.get("entity") or []) or None,
                                    offset=(page - 1) * size, limit=size, changed_by=given.get("user"),
                                    record=given.get("record"), study=given.get("study"), since=given.get("since"),
                                    until=given.get("until"), actions=sorted(given.get("action") or []) or None)
        return Response({"count": count, "page": page, "page_size": size,
                         "results": AuditEventSerializer(events, many=True).data})
