# voxgate gateway image.
#
#   GPU (default): Qwen3-TTS on CUDA, plus the bundled Piper voice.
#     docker build -t voxgate .
#     docker run --gpus all -p 8080:8080 -e VOXGATE_ENGINE=qwen -e VOXGATE_HOST=0.0.0.0 voxgate
#   CPU only: Piper, no torch.
#     docker build --build-arg BASE_IMAGE=python:3.11-slim --build-arg EXTRAS= -t voxgate:cpu .
#
# Mount a Hugging Face cache (-v ~/.cache/huggingface:/root/.cache/huggingface) or
# set VOXGATE_MODEL to a local folder so the model is not fetched on every start.
ARG BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${BASE_IMAGE}

ARG EXTRAS=qwen
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VOXGATE_HOST=0.0.0.0 VOXGATE_AUDIOSOCKET_HOST=0.0.0.0

RUN if ! python3 -m venv --help >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/voxgate

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY tts_core ./tts_core
COPY telephony ./telephony
RUN /opt/voxgate/bin/pip install "/src${EXTRAS:+[$EXTRAS]}"

ENV PATH=/opt/voxgate/bin:$PATH
# 8080: HTTP + WebSockets; 9092: AudioSocket (bind it to a private network only).
EXPOSE 8080 9092
HEALTHCHECK --interval=30s --timeout=3s CMD python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1
CMD ["voxgate", "serve"]
