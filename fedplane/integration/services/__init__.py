"""Domain logic of the integration layer: plain functions that views, admin and tasks share."""
