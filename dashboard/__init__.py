"""hallwatch dashboard package."""
