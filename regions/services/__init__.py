"""Domain logic of the multi-region app; views and tasks call these, never the models directly."""
