"""hallwatch infra package."""
