"""Models of the Module Federation registry, split by concept."""
from .applications import Application, RuntimeConfig
from .dependencies import SharedDependency
from .deployments import Deployment, ModuleRelease, ShellSnapshot
from .modules import ModuleMetric, ModuleVersion, RemoteModule

__all__ = ["Application", "RuntimeConfig", "RemoteModule", "ModuleVersion", "ModuleMetric",
           "SharedDependency", "Deployment", "ModuleRelease", "ShellSnapshot"]
