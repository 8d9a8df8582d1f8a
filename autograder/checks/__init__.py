"""Hidden checks: pytest tests over the facts a probe took from one submission's kernel."""
