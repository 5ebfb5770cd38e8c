from django.urls import path

from analysis.api import views

urlpatterns = [
    path("api/reviews/<slug:slug>/analysis/", views.AnalysisResultsView.as_view(), name="api-analysis"),
    path("api/reviews/<slug:slug>/analysis/version/", views.AnalysisVersionView.as_view(),
         name="api-analysis-version"),
    path("api/reviews/<slug:slug>/analysis/changes/", views.ConclusionChangesView.as_view(),
         name="api-analysis-changes"),
]
