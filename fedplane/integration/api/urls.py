"""/api/v1/integration/: unified deploy, combined health, dependencies, performance."""
urlpatterns: list = []
