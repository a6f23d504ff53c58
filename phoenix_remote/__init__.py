"""phoenix_remote: converge Proxmox VE hosts into Phoenix hypervisors from a workstation."""

__version__ = "0.1.0"
