"""HTTP routes that oTree adds to its URLconf (EXTENSION_APPS)."""
urlpatterns = []

try:
    from otree_redwood import views

    urlpatterns += views.urlpatterns
except (ImportError, AttributeError):  # pragma: no cover - views added later
    pass
