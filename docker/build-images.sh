#!/usr/bin/env bash
# Build the project's images with whatever builder this Docker has (BuildKit through buildx,
# or the classic builder): each build is sent only the files its Dockerfile copies (the "!"
# lines of <name>.Dockerfile.dockerignore), as a tar on standard input, so no builder ever
# reads .venv, runs/ or the data.
#
#   docker/build-images.sh                 # catdog-queue/cpu-worker and catdog-queue/gpu-worker
#   docker/build-images.sh cpu-worker      # one of them
#
# Settings (environment), each also a variable of docker-compose.yml:
#   BASE_IMAGE         default python:3.11-slim; catdog-base/python:3.11 from
#                      docker/make-base-images.sh where Docker Hub is out of reach
#   TENSORFLOW_EXTRAS  default and-cuda (tensorflow[and-cuda]); empty: plain tensorflow,
#                      for hosts without a GPU
#   APP_UID            default 10001: the containers' user, who must be able to read the data
#   CPU_IMAGE, GPU_IMAGE   the tags (default catdog-queue/cpu-worker, catdog-queue/gpu-worker)
#
# Compose uses the images by these tags: docker compose up -d --no-build (or plain `up`,
# which builds only missing images).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim}
TENSORFLOW_EXTRAS=${TENSORFLOW_EXTRAS-and-cuda}
APP_UID=${APP_UID:-10001}
CPU_IMAGE=${CPU_IMAGE:-catdog-queue/cpu-worker}
GPU_IMAGE=${GPU_IMAGE:-catdog-queue/gpu-worker}

if docker buildx version >/dev/null 2>&1; then
    BUILD=(docker buildx build --load)
else
    BUILD=(docker build)
fi

# build NAME TAG [--build-arg ...]: docker/NAME.Dockerfile with only the files it copies.
build() {
    local name=$1 tag=$2
    shift 2
    local dockerfile=docker/$name.Dockerfile
    local sources=()
    while IFS= read -r line; do
        case $line in
            '!'*) sources+=("${line#!}") ;;
        esac
    done <"$ROOT/$dockerfile.dockerignore"
    echo "building $tag from $dockerfile on $BASE_IMAGE" >&2
    local started=$SECONDS
    tar -C "$ROOT" --exclude=__pycache__ --exclude='*.pyc' -cf - "$dockerfile" "${sources[@]}" \
        | "${BUILD[@]}" --quiet -f "$dockerfile" -t "$tag" \
            --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "APP_UID=$APP_UID" "$@" - >/dev/null
    echo "built $tag in $((SECONDS - started)) s" >&2
}

images=("$@")
[ ${#images[@]} -gt 0 ] || images=(cpu-worker gpu-worker)
for image in "${images[@]}"; do
    case $image in
        cpu-worker) build cpu-worker "$CPU_IMAGE" ;;
        gpu-worker) build gpu-worker "$GPU_IMAGE" --build-arg "TENSORFLOW_EXTRAS=$TENSORFLOW_EXTRAS" ;;
        *) echo "error: unknown image $image (cpu-worker, gpu-worker)" >&2; exit 2 ;;
    esac
done
