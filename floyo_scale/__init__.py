"""floyo-scale: Floyo's scaling strategy as code (phases, stacks, one Pulumi program)."""

__version__ = "0.1.0"
