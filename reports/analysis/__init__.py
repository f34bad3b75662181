"""Statistical analyses for evaluation reports: plain functions over pandas data frames.

Nothing in this package touches the ORM or the request, so every function can be tested
against reference numbers and reused from a notebook. The report pipeline builds the data
frames (:class:`~reports.analysis.results.EffectData`) and renders the returned
:class:`~reports.analysis.results.Section` objects.
"""
