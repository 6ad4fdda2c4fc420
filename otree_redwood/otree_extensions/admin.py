"""Data exports shown on oTree's admin Data page (EXTENSION_APPS)."""
from otree_redwood import exports

data_export_views = list(exports.data_export_views)
