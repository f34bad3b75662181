"""A Redis cache that degrades to "nothing cached" while Redis cannot be reached.

Django's own ``RedisCache`` raises ``redis.ConnectionError`` from every call when Redis is down,
which would turn a lost cache into failing pages. The cache only ever holds values that can be
recomputed (see ``pathways.services``), so here a read that fails is a miss and a write that
fails is skipped, with a warning in the log at most once a minute per process. A failed
``delete`` is skipped too, so keys must carry a version of the data they hold (as pathways'
keys do) rather than rely on deletion. ``incr``, ``decr`` and ``clear`` still raise: they have
no sensible answer without Redis.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 60.0


class ResilientRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and whose writes are skipped when Redis fails."""

    _last_warning = 0.0
    _failures = 0

    def _failed(self, operation: str, error: RedisError) -> None:
        cls = type(self)
        cls._failures += 1
        now = time.monotonic()
        if now - cls._last_warning >= WARN_EVERY_SECONDS:
            logger.warning(
                "cache unavailable (%s: %s); %d failed cache calls so far, serving uncached",
                operation,
                error,
                cls._failures,
            )
            cls._last_warning = now

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except RedisError as error:
            self._failed("get", error)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except RedisError as error:
            self._failed("get_many", error)
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except RedisError as error:
            self._failed("has_key", error)
            return False

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        try:
            super().set(key, value, timeout, version)
        except RedisError as error:
            self._failed("set", error)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        try:
            return super().set_many(data, timeout, version)
        except RedisError as error:
            self._failed("set_many", error)
            return list(data)  # the keys that were not stored

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except RedisError as error:
            self._failed("add", error)
            return False

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except RedisError as error:
            self._failed("touch", error)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except RedisError as error:
            self._failed("delete", error)
            return False

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        try:
            super().delete_many(keys, version)
        except RedisError as error:
            self._failed("delete_many", error)
