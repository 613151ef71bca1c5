"""Domain logic of the Module Federation registry, shared by views, admin actions and tasks."""
