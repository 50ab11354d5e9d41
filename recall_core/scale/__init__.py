"""The scale study (issue 12): for one scorer, how many evaluations and how much time each index needs
to reach 0.90 / 0.95 / 0.99 of the scorer's exact top-50, as the catalogue grows from 10^3 to 10^6.

Modules: :mod:`.world` (catalogue, queries, the shared scorer with its non-linearity knob),
:mod:`.pair_mlp` (the pair-scoring network the scorer and the learned node models share),
one module per index (:mod:`.brute`, :mod:`.tdm_index`, :mod:`.dr_index`, :mod:`.graph_index`,
:mod:`.medoid_tree`), :mod:`.study` (sweeps, timing, thresholds) and :mod:`.report`.
``python -m recall_core.scale`` runs it.
"""
