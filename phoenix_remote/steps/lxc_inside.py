"""What the lxc step does inside running containers, over SSH with `pct exec` (the API
cannot): setup scripts (the orchestrator's feature scripts) run when their check fails,
health checks, and the NVIDIA userspace driver of a GPU container compared with the host's.

Probe: one `pct exec` per container runs every check (read-only by contract) and prints
`rc=N` for each; no output means the container is not running. Apply: each setup action
is guarded (it runs the check first and the script only if the check fails, then the check
must pass), so the same action is right for a container probed now and for one this run
creates. A script travels on stdin, never in argv; setup_env values are shown in logs and
must not be secrets.
"""

from __future__ import annotations

from phoenix_remote.config.lxc import ContainerConfig
from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.types import Run
from phoenix_remote.host.batch import Out
from phoenix_remote.host.shell import sh

HOST_DRIVER = "nvidia-smi --query-gpu=driver_version --format=csv,noheader"
DRIVER_CHECK = (HOST_DRIVER + ' 2>/dev/null | head -n 1 | grep -qxF "$PHOENIX_NVIDIA_DRIVER"')
# on the host nvidia-smi may load the driver and make device nodes: a read-only probe asks
# it only when the module is already loaded (as the nvidia step's probe does)
HOST_DRIVER_READ = f"lsmod | grep -q '^nvidia ' && {HOST_DRIVER}"
# one container's checks, all together, get this long and print at most this much: a hung
# or chatty container gives no answer for itself (unknown), not a stuck probe of the host
PROBE_TIMEOUT_S = 30
PROBE_CAP = 64 * 1024
EXIT_MARK = "phoenix-exit="
SETUP_TIMEOUT_S = 3600  # one setup script (a driver or Docker install is minutes)
HEALTH_TIMEOUT_S = 1800  # all tries of a health check together
# every check in the container, each with stdin and output closed; one rc=N line each
PROBE = 'for c in "$@"; do (sh -c "$c") </dev/null >/dev/null 2>&1; echo "rc=$?"; done'
GUARDED = """f=$(mktemp) || exit 1
cat > "$f"
if (sh -c "$1") </dev/null >/dev/null 2>&1; then rm -f "$f"; exit 0; fi
sh "$f" </dev/null; rc=$?
rm -f "$f"
[ "$rc" -eq 0 ] || { echo "setup script failed (exit $rc)" >&2; exit "$rc"; }
(sh -c "$1") </dev/null >/dev/null 2>&1 || { echo "setup ran; check still fails: $1" >&2; exit 1; }
"""
RETRY = """i=1
until (sh -c "$1") </dev/null >/dev/null 2>&1; do
  [ "$i" -ge "$2" ] && { echo "health check failed $2 times: $1" >&2; exit 1; }
  i=$((i + 1)); sleep "$3"
done
"""


def checks_of(ct: ContainerConfig, cfg: HostConfig) -> dict[str, str]:
    """label -> shell check, in the order they are probed: setups, GPU driver, health."""
    lxc = cfg.config.lxc
    assert lxc is not None
    out = {f"setup {name}": lxc.setup[name].check for name in ct.setup}
    if ct.gpus:
        out["nvidia driver"] = DRIVER_CHECK
    if ct.health_check:
        out["health"] = ct.health_check.command
    return out


def probed(vmid: int, cfg: HostConfig) -> bool:
    lxc = cfg.config.lxc
    ct = lxc.container(vmid) if lxc else None
    return bool(ct and lxc and lxc.state_of(ct) == "running" and checks_of(ct, cfg))


def env_argv(vmid: int, ct: ContainerConfig, driver: str) -> list[str]:
    env = {"PHOENIX_VMID": str(vmid), "PHOENIX_HOSTNAME": ct.hostname,
           "PHOENIX_GPUS": ",".join(map(str, ct.gpus)), "PHOENIX_NVIDIA_DRIVER": driver,
           **ct.setup_env}
    return ["env", *(f"{k}={v}" for k, v in env.items())]


def pct_sh(vmid: int, ct: ContainerConfig, driver: str, script: str, *args: str
           ) -> tuple[str, ...]:
    """argv: `script` run by sh inside the container, with phoenix's environment and these
    arguments ($0, $1, ...): the one way phoenix runs something in a container."""
    return ("pct", "exec", str(vmid), "--", *env_argv(vmid, ct, driver), "sh", "-c", script,
            *args)


def commands(cfg: HostConfig) -> dict[str, str]:
    """The batch commands: one per running container with checks. The host's driver
    version is read in the same command (after an earlier step's reboot it is new)."""
    out = {}
    lxc = cfg.config.lxc
    for vmid in cfg.containers:
        if not probed(vmid, cfg):
            continue
        ct = lxc.container(vmid)  # type: ignore[union-attr]
        argv = pct_sh(vmid, ct, "", PROBE, "phoenix-check", *checks_of(ct, cfg).values())
        # the driver's value is the host's, read by this same command (setup_env may not
        # name PHOENIX_ variables: the schema)
        i = argv.index("PHOENIX_NVIDIA_DRIVER=")
        driver = 'PHOENIX_NVIDIA_DRIVER="$drv"' if ct.gpus else "PHOENIX_NVIDIA_DRIVER=''"
        line = sh(" ".join(["{}"] * i + [driver] + ["{}"] * (len(argv) - i - 1)),
                  *argv[:i], *argv[i + 1:])
        line = (f"{{ timeout -k 5 {PROBE_TIMEOUT_S} {line}; echo \"{EXIT_MARK}$?\"; }} "
                f"2>/dev/null | head -c {PROBE_CAP}")
        out[f"inside_{vmid}"] = (f'drv=$({HOST_DRIVER_READ} 2>/dev/null | head -n 1); '
                                 f'{line}' if ct.gpus else line)
    if lxc and any(lxc.container(v).gpus for v in cfg.containers):
        out["host_driver"] = f"{HOST_DRIVER_READ} | head -n 1"
    return out


def results(out: dict[str, Out], cfg: HostConfig) -> dict[int, dict[str, bool]]:
    """vmid -> {label: passed} for the containers that answered (running ones)."""
    found: dict[int, dict[str, bool]] = {}
    lxc = cfg.config.lxc
    for vmid in cfg.containers:
        o = out.get(f"inside_{vmid}")
        codes = [ln[3:] for ln in o.text.splitlines() if ln.startswith("rc=")] if o else []
        labels = list(checks_of(lxc.container(vmid), cfg)) if lxc and probed(vmid, cfg) else []
        if labels and len(codes) == len(labels):
            found[vmid] = {label: code == "0" for label, code in zip(labels, codes)}
    return found


def unanswered(out: dict[str, Out], cfg: HostConfig) -> dict[int, str]:
    """vmid -> why a running container's checks gave no answer: they ran past the probe's
    time, printed past its cap, or ended without one rc line per check. A container that
    is not running (pct exec's own refusal, exit 255 with no rc lines) is not here."""
    found: dict[int, str] = {}
    lxc = cfg.config.lxc
    for vmid in cfg.containers:
        o = out.get(f"inside_{vmid}")
        if o is None or not (lxc and probed(vmid, cfg)):
            continue
        lines = o.text.splitlines()
        codes = [ln for ln in lines if ln.startswith("rc=")]
        mark = [ln[len(EXIT_MARK):] for ln in lines if ln.startswith(EXIT_MARK)]
        if not mark:
            found[vmid] = f"its checks printed more than {PROBE_CAP} bytes"
        elif mark[-1] in ("124", "137"):
            found[vmid] = f"its checks did not finish within {PROBE_TIMEOUT_S} s"
        elif codes and len(codes) != len(checks_of(lxc.container(vmid), cfg)):
            found[vmid] = "its checks' answer was cut short"
    return found


def host_driver(out: dict[str, Out]) -> str:
    o = out.get("host_driver")
    return o.text.strip() if o and o.ok else ""


def setup_runs(vmid: int, ct: ContainerConfig, cfg: HostConfig, driver: str,
               only: list[str] | None = None) -> list[Run]:
    """Guarded setup actions (all of the container's, or `only` these names)."""
    lxc = cfg.config.lxc
    assert lxc is not None
    return [Run(pct_sh(vmid, ct, driver, GUARDED, f"phoenix-setup-{name}",
                       lxc.setup[name].check),
                stdin=cfg.setup_scripts[name], timeout=SETUP_TIMEOUT_S,
                title=f"pct exec {vmid}: setup {name} ({lxc.setup[name].script}) unless "
                      f"its check passes")
            for name in ct.setup if only is None or name in only]


def health_run(vmid: int, ct: ContainerConfig, driver: str) -> list[Run]:
    h = ct.health_check
    if h is None:
        return []
    return [Run(pct_sh(vmid, ct, driver, RETRY, "phoenix-health", h.command, str(h.retries),
                       str(h.interval_s)),
                timeout=min(h.retries * (h.interval_s + 60), HEALTH_TIMEOUT_S),
                title=f"pct exec {vmid}: health check `{h.command}`, {h.retries} tries "
                      f"{h.interval_s} s apart")]


def after_start(vmid: int, ct: ContainerConfig, cfg: HostConfig, driver: str) -> list[Run]:
    """What follows a (re)start of a running container: its setups (guarded) and its
    health check, since what they started did not survive the restart."""
    return setup_runs(vmid, ct, cfg, driver) + health_run(vmid, ct, driver)
