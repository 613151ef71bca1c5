"""Operations endpoints: liveness, readiness (Prometheus scrape is django-prometheus)."""
