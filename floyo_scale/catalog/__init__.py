"""Provider facts in one place: capabilities (facts.py) and prices (prices.yaml)."""
