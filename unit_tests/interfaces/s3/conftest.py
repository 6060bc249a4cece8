"""The s3 interface layer is imported as the package ``s3`` (from ``interfaces/``)."""
import os
import platform
import sys

# charmhelpers refuses to import on a distribution it does not know (Debian)
platform.linux_distribution = lambda: ('Ubuntu', '22.04', 'jammy')

INTERFACES = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..',
                                          'interfaces'))
if INTERFACES not in sys.path:
    sys.path.insert(0, INTERFACES)
