"""The dashboard's composition root: the services its pages use, and its entry script."""
