"""Private network namespaces for tests that run Ray: Ray binds to the machine's network
address whatever it is told, so its tests run where only a loopback interface exists."""

from __future__ import annotations

import shutil
import subprocess


def can_make_network_namespace() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
