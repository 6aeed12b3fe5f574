"""`python -m floyo_scale ...`: the same entry point as the `floyo-scale` console script."""

from floyo_scale.cli import run

if __name__ == "__main__":
    run()
