"""motiad's benchmarks: ratios against baselines measured in the same run (ARCHITECTURE §6).

Run ``bench/run`` (``--quick`` for a shorter run); see ``bench/README.md``.
"""
