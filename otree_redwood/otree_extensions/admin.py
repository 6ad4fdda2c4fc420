"""Data exports shown on oTree's admin Data page (EXTENSION_APPS)."""
data_export_views = []

try:
    from otree_redwood import exports

    data_export_views += exports.data_export_views
except (ImportError, AttributeError):  # pragma: no cover - exports added later
    pass
