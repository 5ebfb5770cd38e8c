from django.urls import path

from analysis.pages import grade as grade_pages
from analysis.pages import reader as pages
from analysis.pages import revman as revman_pages
from analysis.api import releases as release_api
from analysis.api import views
from analysis.pages import releases as release_pages

urlpatterns = [
    path("api/reviews/<slug:slug>/analysis/", views.AnalysisResultsView.as_view(), name="api-analysis"),
    path("api/reviews/<slug:slug>/analysis/version/", views.AnalysisVersionView.as_view(),
         name="api-analysis-version"),
    path("api/reviews/<slug:slug>/analysis/changes/", views.ConclusionChangesView.as_view(),
         name="api-analysis-changes"),
    path("api/reviews/<slug:slug>/analysis/outcomes/<int:pk>/history/", views.OutcomeHistoryView.as_view(),
         name="api-analysis-outcome-history"),
    path("api/reviews/<slug:slug>/summary-of-findings/", views.SummaryOfFindingsView.as_view(),
         name="api-summary-of-findings"),
    path("api/reviews/<slug:slug>/releases/", release_api.ReleaseListView.as_view(), name="api-releases"),
    path("api/reviews/<slug:slug>/releases/<str:version>/analysis/", release_api.ReleaseAnalysisView.as_view(),
         name="api-release-analysis"),
    # Public reader pages.
    path("reviews/<slug:slug>/", pages.review_page, name="review"),
    path("reviews/<slug:slug>/data.csv", pages.data_csv, name="review-data-csv"),
    path("reviews/<slug:slug>/risk-of-bias/<str:figure>.svg", pages.review_rob_figure, name="review-rob-figure"),
    path("reviews/<slug:slug>/summary-of-findings/", pages.sof_page, name="review-summary-of-findings"),
    path("reviews/<slug:slug>/summary-of-findings/assess/", grade_pages.grade_assessment_page,
         name="review-grade-assessment"),
    path("reviews/<slug:slug>/summary-of-findings.csv", pages.sof_csv, name="review-summary-of-findings-csv"),
    path("reviews/<slug:slug>/summary-of-findings.html", pages.sof_html, name="review-summary-of-findings-html"),
    path("reviews/<slug:slug>/outcomes/<int:outcome_id>/", pages.outcome_page, name="review-outcome"),
    path("reviews/<slug:slug>/outcomes/<int:outcome_id>/analysis.R", pages.outcome_r_script, name="review-outcome-r"),
    path("reviews/<slug:slug>/outcomes/<int:outcome_id>/<str:figure>.svg", pages.outcome_figure,
         name="review-outcome-figure"),
    # RevMan 5: the parity report of an imported review (team) and the review as .rm5 / CSV (managers).
    path("reviews/<slug:slug>/revman/parity/", revman_pages.parity_page, name="revman-parity"),
    path("reviews/<slug:slug>/revman/export.rm5", revman_pages.export_rm5, name="revman-export"),
    path("reviews/<slug:slug>/revman/study-data.csv", revman_pages.export_csv, name="revman-export-csv"),
    # Releases: citable, immutable versions (issue 20).
    path("reviews/<slug:slug>/releases/", release_pages.releases_page, name="review-releases"),
    path("reviews/<slug:slug>/releases.atom", release_pages.releases_feed, name="review-releases-feed"),
    path("reviews/<slug:slug>/releases/compare/", release_pages.release_compare, name="review-releases-compare"),
    path("reviews/<slug:slug>/releases/<str:version>/", release_pages.release_page, name="review-release"),
    path("reviews/<slug:slug>/releases/<str:version>/<path:rest>", release_pages.release_page,
         name="review-release-file"),
]
