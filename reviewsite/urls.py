"""URL configuration."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from analysis.pages import prisma as prisma_views
from studies import urls as studies_urls
from studies.pages import accounts as account_views
from studies.pages import home as studies_views
from studies.pages import team as team_views

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
    # Password reset and change: Django's views at Django's default paths and names; the reset
    # request is throttled per address and client (studies/pages/accounts.py).
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
    path("accounts/password_reset/", account_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # An invitation link (issue 18): create an account or add the roles to one's own.
    path("invitations/<str:token>/", team_views.invitation_accept, name="invitation-accept"),
    path("", include("analysis.urls")),
    # The review database's pages, plus the PRISMA diagram under the same namespace: analysis
    # draws it (studies imports no analysis, .importlinter) and its name stays studies:prisma-svg.
    path("", include(([
        *studies_urls.urlpatterns,
        path("reviews/<slug:slug>/prisma.svg", prisma_views.prisma_figure, name="prisma-svg"),
        path("reviews/<slug:slug>/prisma/", prisma_views.prisma_text, name="prisma"),
    ], studies_urls.app_name))),
]
