"""Django admin pages for the event log and the live connections.

oTree 3.4 does not install ``django.contrib.admin``; a project that adds it
to ``INSTALLED_APPS`` gets ``Event`` and ``Connection`` in Django's admin.
Without it this module registers nothing and raises nothing (Django only
imports it through the admin's autodiscovery, but a plain import is safe too).
"""
from django.apps import apps

from .models import Connection, Event

registered = False

if apps.is_installed("django.contrib.admin"):
    from django.contrib import admin

    @admin.register(Event)
    class EventAdmin(admin.ModelAdmin):
        """The event log: filter by channel, participant and group; search by code."""

        list_display = ("id", "timestamp", "content_type", "group_pk", "channel", "participant_code",
                        "seq", "recipient_code", "short_value")
        list_filter = ("channel", "participant", "group_pk", "content_type")
        search_fields = ("participant__code",)
        list_select_related = ("participant", "recipient", "content_type")
        raw_id_fields = ("participant", "recipient")
        date_hierarchy = "timestamp"
        ordering = ("-timestamp", "-id")
        readonly_fields = ("timestamp", "content_type", "group_pk", "channel", "participant",
                           "value", "seq", "recipient")

        def has_add_permission(self, request, obj=None):
            # events are a record of what happened; they are made by the server
            return False

        def participant_code(self, obj):
            return obj.participant.code if obj.participant_id else ""

        participant_code.short_description = "participant"
        participant_code.admin_order_field = "participant__code"

        def recipient_code(self, obj):
            return obj.recipient.code if obj.recipient_id else ""

        recipient_code.short_description = "recipient"

        def short_value(self, obj):
            text = repr(obj.value)
            return text if len(text) <= 80 else text[:77] + "..."

        short_value.short_description = "value"

    @admin.register(Connection)
    class ConnectionAdmin(admin.ModelAdmin):
        """Who is connected now, since when, through which server process."""

        list_display = ("participant_code", "connected_at", "process")
        list_filter = ("process", "participant")
        search_fields = ("participant__code",)
        list_select_related = ("participant",)
        raw_id_fields = ("participant",)

        def participant_code(self, obj):
            return obj.participant.code

        participant_code.short_description = "participant"
        participant_code.admin_order_field = "participant__code"

    registered = True
