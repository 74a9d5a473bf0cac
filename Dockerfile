# Training image: `python -m trainer` on CPU, run once per dispatch on the EC2 host.
# Build: invoke build --sha SHA   (docker build --build-arg GIT_SHA=SHA -t ghcr.io/OWNER/IMAGE:SHA .)
#checkov:skip=CKV_DOCKER_2:one-shot training container that exits when done; there is no service to probe

FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# requirements.txt names PyTorch's CPU index and pins torch's +cpu build (PyPI's default wheel pulls several GB
# of CUDA libraries).
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

FROM python:3.11-slim

RUN groupadd --gid 10001 trainer \
    && useradd --uid 10001 --gid trainer --no-create-home --home-dir /app --shell /usr/sbin/nologin trainer

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLFLOW_DISABLE_TELEMETRY=true
COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY requirements.txt tasks.py invoke.yaml ./
COPY trainer/ trainer/
COPY ops/ ops/
COPY configs/ configs/
COPY data/ data/

# Last, so a new commit rebuilds only this layer.
ARG GIT_SHA=unknown
LABEL org.opencontainers.image.revision=$GIT_SHA \
      org.opencontainers.image.title="ai-drug-trainer" \
      org.opencontainers.image.description="Idempotent training of molecular property models, tracked in MLflow"
ENV GIT_SHA=$GIT_SHA

USER 10001:10001
ENTRYPOINT ["python", "-m", "trainer"]
