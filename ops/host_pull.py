"""The values of host_pull.sh, the registry login and image pull that every host script starts with."""

from __future__ import annotations

from dataclasses import dataclass

from ops.images import ImageRef
from ops.settings import AwsSettings


@dataclass(frozen=True)
class ImagePull:
    """Which image the host pulls and where it reads the registry token."""

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


def image_pull(image: ImageRef, aws: AwsSettings) -> ImagePull:
    """An ImagePull of invoke.yaml's aws section."""
    return ImagePull(image, aws.region, aws.token_parameter)
