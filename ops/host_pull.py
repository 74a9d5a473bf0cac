"""The values of host_pull.sh, the registry login and image pull that every host script starts with."""

from __future__ import annotations

from dataclasses import dataclass

from ops import validate
from ops.images import ImageRef


@dataclass(frozen=True)
class ImagePull:
    """Which image the host pulls and where it reads the registry token; build it with `image_pull`."""

    image: ImageRef
    region: str
    token_parameter: str

    def values(self) -> dict[str, str]:
        """host_pull.sh's values, for hostscript.render."""
        return {
            "IMAGE": self.image.tag,
            "REGISTRY": self.image.registry,
            "REGISTRY_USER": self.image.owner,
            "AWS_REGION": self.region,
            "TOKEN_PARAMETER": self.token_parameter,
        }


def image_pull(image: ImageRef, *, region: str, token_parameter: str) -> ImagePull:
    """An ImagePull from invoke.yaml's aws values; BadInput names a value that is refused."""
    return ImagePull(image, validate.region(region), validate.parameter_name(token_parameter))
