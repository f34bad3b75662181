"""Read-only admin pages: spells and imports are changed through the services only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pathways.models import QualityFlag, SpellImport, SpellState


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SpellState)
class SpellStateAdmin(ReadOnly):
    list_display = ["trial", "priority", "code", "label_en", "colour"]
    list_filter = ["trial"]


@admin.register(SpellImport)
class SpellImportAdmin(ReadOnly):
    list_display = ["trial", "file_name", "uploaded_at", "uploaded_by_name", "status"]
    list_filter = ["trial", "status"]
    exclude = ["errors"]


@admin.register(QualityFlag)
class QualityFlagAdmin(ReadOnly):
    list_display = ["trial", "participant", "kind", "overlap_from", "reviewed_at"]
    list_filter = ["trial", "kind"]
