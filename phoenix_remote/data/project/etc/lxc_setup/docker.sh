#!/bin/sh
# docker - the orchestrator's Docker feature (+ Portainer by PORTAINER_ROLE, from the
# container's setup_env): Docker CE from download.docker.com; in a GPU container the NVIDIA
# container toolkit as Docker's default runtime. Fixed: the "installed" test that never
# passed (the `command` builtin without a shell), the keyring tested on the host, the CUDA
# repository in containers without a GPU, Docker restarted on every run, the agent's server
# address read from the wrong file (now PORTAINER_SERVER in setup_env).
set -eu
export DEBIAN_FRONTEND=noninteractive
if ! docker info >/dev/null 2>&1; then
    apt-get update
    apt-get install -y ca-certificates curl gnupg
    install -d -m 0755 /etc/apt/keyrings
    if [ ! -s /etc/apt/keyrings/docker.gpg ]; then
        curl -fsSL https://download.docker.com/linux/ubuntu/gpg | gpg --dearmor > /etc/apt/keyrings/docker.gpg.tmp
        mv /etc/apt/keyrings/docker.gpg.tmp /etc/apt/keyrings/docker.gpg
    fi
    chmod a+r /etc/apt/keyrings/docker.gpg
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu $codename stable" \
        > /etc/apt/sources.list.d/docker.list
    apt-get update
    apt-get install -y docker-ce docker-ce-cli containerd.io docker-compose-plugin
    systemctl enable --now docker
fi
if [ -n "${PHOENIX_GPUS:-}" ] && ! docker info 2>/dev/null | grep -q 'Default Runtime: nvidia'; then
    apt-get install -y nvidia-container-toolkit  # from the CUDA repository (setup nvidia)
    nvidia-ctk runtime configure --runtime=docker --set-as-default
    systemctl restart docker
fi
running() { docker ps --format '{{.Names}}' | grep -qx "$1"; }
case "${PORTAINER_ROLE:-none}" in
server)
    running portainer || {
        docker rm portainer >/dev/null 2>&1 || true
        docker volume create portainer_data
        docker run -d -p 9443:9443 -p 9001:9001 --name portainer --restart=always \
            -v /var/run/docker.sock:/var/run/docker.sock -v portainer_data:/data \
            portainer/portainer-ce:latest
    } ;;
agent)
    running portainer_agent || {
        docker rm portainer_agent >/dev/null 2>&1 || true
        docker run -d -p 9001:9001 --name portainer_agent --restart=always \
            -v /var/run/docker.sock:/var/run/docker.sock \
            -v /var/lib/docker/volumes:/var/lib/docker/volumes \
            -e "AGENT_CLUSTER_ADDR=tcp://${PORTAINER_SERVER:?setup_env PORTAINER_SERVER}" \
            portainer/agent:latest
    } ;;
esac
