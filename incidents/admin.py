from django.contrib import admin

from incidents.models import HistoryEntry, Incident


class ReadOnlyAdmin(admin.ModelAdmin):
    """Changes go through the browser UI or the API, whose services record history."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "title",
        "status",
        "severity",
        "kind",
        "owner",
        "created_at",
    )
    list_filter = ("status", "severity", "kind")
    search_fields = ("reference", "title")


@admin.register(HistoryEntry)
class HistoryEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "incident", "actor", "action", "summary")
    list_filter = ("action",)
