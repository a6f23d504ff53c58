#!/bin/sh
# vllm - the orchestrator's vLLM feature: Python 3.11 (deadsnakes), a venv in /opt/vllm
# with PyTorch (CUDA 12.8 nightly wheels) and vLLM built from /opt/vllm_repo. Fixed: vLLM
# was unpinned (git HEAD): pinned to d030ac6's commit.
set -eu
export DEBIAN_FRONTEND=noninteractive
commit=5bcc153d7bf69ef34bc5788a33f60f1792cf2861
nvidia-smi >/dev/null  # the GPU userspace (setup nvidia, or the clone source's snapshot)
apt-get update
apt-get install -y software-properties-common
add-apt-repository -y ppa:deadsnakes/ppa
apt-get update
apt-get install -y python3.11-full python3.11-dev python3.11-venv python3-pip build-essential cmake git
[ -x /opt/vllm/bin/python ] || python3.11 -m venv /opt/vllm
/opt/vllm/bin/pip install --upgrade pip
/opt/vllm/bin/pip install --pre torch --index-url https://download.pytorch.org/whl/nightly/cu128
[ -d /opt/vllm_repo/.git ] || git clone https://github.com/vllm-project/vllm.git /opt/vllm_repo
git -C /opt/vllm_repo fetch origin "$commit"
git -C /opt/vllm_repo checkout -q "$commit"
/opt/vllm/bin/pip install -e /opt/vllm_repo
rm -rf /root/.cache/pip
