"""`fedplane-client`: register a node with fedplane and join trainings as a Flower SuperNode.

Needs flwr, torch and httpx, not Django: it runs on the machine that holds the data.
"""
