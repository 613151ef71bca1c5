"""Multi-region ML platform: model registry, replication, serving, failover, cost."""
