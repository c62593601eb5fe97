"""Quality over windows: realised and estimated metrics, evaluations, concept drift."""
