"""The credit-card cross-sell use case: features, archetypes, recommendations, dashboards."""
