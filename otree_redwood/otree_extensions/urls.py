"""HTTP routes that oTree adds to its URLconf (EXTENSION_APPS)."""
from otree_redwood import views

urlpatterns = list(views.urlpatterns)
