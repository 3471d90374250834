"""A bundle: the files rendered for a stack ({path: text}), its Compose document,
and the secret values it carries (masked wherever it is shown or logged)."""
import base64
import hashlib
from dataclasses import dataclass, field

MASK = "••••••••"


class BinaryFile(str):
    """A bundle file kept as bytes: shown, hashed and compared as its base64 text,
    written as the bytes it stands for."""

    @property
    def data(self):
        return base64.b64decode(self)


@dataclass
class Bundle:
    stack_slug: str
    files: dict  # {relative path: text}
    compose: dict  # the Compose document the engine applies
    secret_values: set = field(default_factory=set, repr=False)
    missing_secrets: set = field(default_factory=set)

    @property
    def hash(self):
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + self.files[path].encode() + b"\0")
        return digest.hexdigest()

    def mask(self, text):
        for value in sorted(self.secret_values, key=len, reverse=True):
            if value:
                text = text.replace(value, MASK)
        return text

    def masked_files(self):
        return {path: self.mask(text) for path, text in self.files.items()}
