"""Provider facts in one place: capabilities (facts.py) and prices (prices.yaml, read by
prices.py), each dated and sourced.

The lowest layer (docs/architecture.md): imports nothing of ours, not even errors.
"""
