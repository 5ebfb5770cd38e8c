"""``/api/``: the review database (nested under the review's slug) and the API's own schema and docs."""
from django.urls import path
from csp.decorators import csp_update
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import obtain_auth_token

from studies.api import resources as r
from studies.api import risk_of_bias as rob
from studies.api import screening as sc
from studies.api.audit import AuditTrailView

LIST = {"get": "list", "post": "create"}
DETAIL = {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}

# (URL segment, viewset): each gets a list and a detail route under /api/reviews/<slug>/.
REVIEW_RESOURCES = [
    ("team", sc.MembershipViewSet),
    ("sources", r.SearchSourceViewSet),
    ("imports", r.ImportBatchViewSet),
    ("records", r.RecordViewSet),
    ("studies", r.StudyViewSet),
    ("arms", r.ArmViewSet),
    ("characteristic-fields", r.CharacteristicFieldViewSet),
    ("characteristics", r.StudyCharacteristicViewSet),
    ("outcome-domains", r.OutcomeDomainViewSet),
    ("outcomes", r.OutcomeViewSet),
    ("time-points", r.TimePointViewSet),
    ("outcome-subgroups", r.OutcomeSubgroupViewSet),
    ("outcome-data", r.OutcomeDataViewSet),
    ("study-estimates", r.StudyEstimateViewSet),
    ("exclusion-reasons", sc.ExclusionReasonViewSet),
    ("decisions", sc.DecisionViewSet),
    ("resolutions", sc.ResolutionViewSet),
    ("reports", sc.ReportViewSet),
    ("rob1-assessments", rob.Rob1AssessmentViewSet),
    ("rob2-assessments", rob.Rob2AssessmentViewSet),
]


def _routes(segment: str, viewset) -> list:
    """A list and a detail route, with the methods the viewset implements (and only those)."""
    listing = {method: action for method, action in LIST.items() if hasattr(viewset, action)}
    detail = {method: action for method, action in DETAIL.items() if hasattr(viewset, action)}
    return [
        path(f"api/reviews/<slug:slug>/{segment}/", viewset.as_view(listing), name=f"api-{segment}-list"),
        path(f"api/reviews/<slug:slug>/{segment}/<int:pk>/", viewset.as_view(detail), name=f"api-{segment}-detail"),
    ]


urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (no inline script); Swagger UI sets
    # inline styles, which this page alone allows.
    path("api/docs/", csp_update({"style-src": ["'unsafe-inline'"]})(
        SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/token/", obtain_auth_token, name="api-token"),
    path("api/reviews/", r.ReviewViewSet.as_view({"get": "list", "post": "create"}), name="api-review-list"),
    path("api/reviews/<slug:slug>/", r.ReviewViewSet.as_view({"get": "retrieve", "put": "update",
                                                              "patch": "partial_update"}), name="api-review-detail"),
    path("api/reviews/<slug:slug>/audit/", AuditTrailView.as_view(), name="api-audit"),
    *[route for segment, viewset in REVIEW_RESOURCES for route in _routes(segment, viewset)],
    # A second team member's look at a value held "awaiting check" (issue 20).
    *(path(f"api/reviews/<slug:slug>/{segment}/<int:pk>/{action}/", viewset.as_view({"post": action}),
           name=f"api-{segment}-{action}")
      for segment, viewset in (("outcome-data", r.OutcomeDataViewSet), ("study-estimates", r.StudyEstimateViewSet))
      for action in ("confirm", "correct")),
]
