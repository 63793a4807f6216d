"""From command-line inputs to outputs: planning, one task end to end, the worker pool, pieces, Ray and the hot folder."""
