"""The Docker engine seam: everything that talks to Docker lives in this package."""
from .apply import container_logs, deploy, down, restart_service, stack_status, stop  # noqa: F401
from .client import EngineError  # noqa: F401
