"""The Docker engine seam: everything that talks to Docker lives in this package."""
