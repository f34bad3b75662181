"""A trial's data dictionary: its variables as data (``variables``), as a CSV file out and in
(``csvio``, ``redcap``; what both read into in ``files``), the import service (``services``),
its pages and its API."""
