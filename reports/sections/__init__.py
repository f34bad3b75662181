"""Report sections, one module per family (participant flow, effect, recruitment, dose and
contamination, fidelity, adaptations, pathways, job strain, economics), and the registry of
report kinds that lists them (:mod:`reports.sections.registry`, their only home).

Imports run one way: ``base`` (what a section builder gets) ← the section modules ← ``registry``
← ``reports.pipeline`` (the build). Nothing here imports the pipeline.
"""
