"""Facts about the providers, kept in one place: capabilities (facts.py) and prices (prices.yaml)."""
