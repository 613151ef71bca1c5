"""Operations endpoints: liveness, readiness, the Prometheus scrape (metrics.py)."""
