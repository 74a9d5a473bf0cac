"""sitecustomize for processes in a stand-in container: the compose network's DNS.

Docker's embedded DNS resolves a service name (`mlflow`) to the service's address on the network; here the
names and addresses come from STANDIN_HOSTS (JSON), which the stand-in docker sets. Anything else resolves
as usual.
"""

import json
import os
import socket

_HOSTS = json.loads(os.environ.get("STANDIN_HOSTS", "{}"))
_resolve = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    return _resolve(_HOSTS.get(host, host), *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
