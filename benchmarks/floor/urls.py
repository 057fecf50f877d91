from __future__ import annotations

from django.urls import path

from benchmarks.floor import views

app_name = "floor"
urlpatterns = [
    path("", views.home, name="home"),
    path("begin/", views.begin, name="begin"),
    path("callback/", views.callback, name="callback"),
]
