"""PulseWave: support/resistance levels, market regime and confluence scoring.

- `levels`: pivots, clustering and level strength.
- `regime`: BULL / BEAR / SIDEWAYS / TRANSITION with a confidence.
- `confluence`: the 0-100 score and its weighted factors.
- `strategy`: setups near levels and the `run` function.
"""

from engine.strategies.pulsewave.strategy import PulsewaveParams, current_setups, regime_of, run

__all__ = ["PulsewaveParams", "current_setups", "regime_of", "run"]
