"""URL configuration."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studies import views as studies_views

admin.site.site_header = "Living review — back office"
admin.site.site_title = "Living review"
admin.site.index_title = "Review database"

urlpatterns = [
    path("", studies_views.home, name="home"),
    path("healthz", studies_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("studies.api.urls")),
    # Team members who are not back-office staff (screeners, tutors) sign in here.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only
    path("", include("analysis.urls")),
    path("", include("studies.urls")),
]
