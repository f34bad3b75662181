"""Date and time formats, one per language (``FORMAT_MODULE_PATH``), overriding Django's.

Both languages show ISO-like dates and 24-hour times, ``2026-12-06`` and ``2026-12-06 11:14``:
the trial's data, imports and exports use ISO 8601 already, it reads the same to a Norwegian
and an English reader, and no value can be read as another day (docs/decisions.md). Templates
ask for ``SHORT_DATE_FORMAT`` and ``SHORT_DATETIME_FORMAT``, never for a pattern of their own;
an audit trail shows seconds (``Y-m-d H:i:s``) beside them. Month names stay the language's own.
"""
