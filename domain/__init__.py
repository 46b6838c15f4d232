"""hallwatch domain package."""
