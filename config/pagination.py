"""The API's page-number pagination, read as the schema states it."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import pagination, serializers

PAGE = re.compile(r"[1-9][0-9]{0,8}")


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's, but ``page`` must be a page number written in ASCII digits (the schema's integer):
    anything else (``"last"``, ``" 2"``, ``"+2"``, ``"1_0"``, other scripts' digits, which
    ``int()`` would read) is a 400 naming ``page``; a page past the end stays a 404."""

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not PAGE.fullmatch(raw):
            raise serializers.ValidationError(
                {self.page_query_param: [_("A page number (1, 2, 3 …) is required.")]}
            )
        return super().get_page_number(request, paginator)
