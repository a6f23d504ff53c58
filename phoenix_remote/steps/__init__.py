"""The Phoenix steps, in the original orchestrator's order (create_phoenix.sh), then the
containers (the later orchestrator's default job)."""

from phoenix_remote.steps.admin_user import AdminUser
from phoenix_remote.steps.initial_setup import InitialSetup
from phoenix_remote.steps.lxc import Lxc
from phoenix_remote.steps.nfs import Nfs
from phoenix_remote.steps.nvidia import Nvidia
from phoenix_remote.steps.samba import Samba
from phoenix_remote.steps.storage import Storage
from phoenix_remote.steps.zfs_datasets import ZfsDatasets
from phoenix_remote.steps.zfs_pools import ZfsPools
from phoenix_remote.steps.zfsutils import ZfsUtils

STEPS = (InitialSetup(), Nvidia(), AdminUser(), ZfsUtils(), ZfsPools(), ZfsDatasets(),
         Storage(), Nfs(), Samba(), Lxc())
