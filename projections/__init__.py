"""hallwatch projections package."""
