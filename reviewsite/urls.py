"""URL configuration."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from analysis.pages import prisma as prisma_views
from studies import urls as studies_urls
from studies.pages import home as studies_views

admin.site.site_header = "Living review — back office"
admin.site.site_title = "Living review"
admin.site.index_title = "Review database"

urlpatterns = [
    path("", studies_views.home, name="home"),
    path("healthz", studies_views.healthz, name="healthz"),
    path("new-review/", studies_views.review_new, name="review-new"),
    path("admin/", admin.site.urls),
    path("", include("studies.api.urls")),
    # Team members who are not back-office staff (screeners, tutors) sign in here.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only
    path("", include("analysis.urls")),
    # The review database's pages, plus the PRISMA diagram under the same namespace: analysis
    # draws it (studies imports no analysis, .importlinter) and its name stays studies:prisma-svg.
    path("", include(([
        *studies_urls.urlpatterns,
        path("reviews/<slug:slug>/prisma.svg", prisma_views.prisma_figure, name="prisma-svg"),
    ], studies_urls.app_name))),
]
