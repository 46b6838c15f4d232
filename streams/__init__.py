"""hallwatch streams package."""
