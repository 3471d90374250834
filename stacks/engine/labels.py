"""Every label name Compose uses, in one place."""
PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
CONFIG_HASH = "com.docker.compose.config-hash"
VERSION = "com.docker.compose.version"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
# The Compose release whose labels and names we follow (Debian's docker-compose).
COMPOSE_VERSION = "1.29.2"
# Ours: per-setting digests of the config a container was created from, so that a
# plan can say which setting changed (digests only, never values).
APPLIED = "org.stacks-panel.applied"
