"""Module Federation registry: shells, remotes, shared dependencies, runtime config."""
