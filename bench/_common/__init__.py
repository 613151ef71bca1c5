"""Helpers more than one benchmark uses (a throwaway fedplane server, percentiles, free ports)."""
