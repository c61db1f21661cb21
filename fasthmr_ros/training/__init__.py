"""Making and judging weights: HMR and decoder training, ECLM calibration search, synthetic data, metrics.

May import any other package; no other package imports it (the `fasthmr` commands reach it by module name).
"""
