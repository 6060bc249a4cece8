"""Make charmhelpers importable in the test venv on Debian, without touching the library.

charmhelpers.osplatform.get_platform() refuses anything that is not Ubuntu or CentOS. The
charm targets Ubuntu; the tests run on Debian. A .pth file in the venv (never in the charm)
gives the platform module the linux_distribution() that charmhelpers asks for.
"""

import glob
import os
import sys

SHIM = ("import platform; platform.linux_distribution = "
        "(lambda *a, **k: ('Ubuntu', '22.04', 'jammy'))\n")


def install(venv):
    for site in glob.glob(os.path.join(venv, "lib", "python3*", "site-packages")):
        with open(os.path.join(site, "charmhelpers_debian_shim.pth"), "w") as f:
            f.write(SHIM)


if __name__ == "__main__":
    install(sys.argv[1])
