"""Helpers shared by tests and benches: small stacks on the local images."""
