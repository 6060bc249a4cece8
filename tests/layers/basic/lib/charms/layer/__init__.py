"""charms.layer for the test-only layer:basic stand-in.

``charms.layer.options.get(section, key)`` reads the ``options:`` section of
the built charm's ``layer.yaml``. ``charms.layer.options(section)`` (the old
call style) works too.
"""
import sys
from importlib import import_module
from pathlib import Path


def import_layer_libs():
    """Import every other module under lib/charms/layer (after bootstrap)."""
    for entry in sorted(Path('lib/charms/layer').glob('*')):
        name = entry.stem
        if name.startswith('_') or name in ('basic', 'options'):
            continue
        if entry.suffix == '.py' or (entry.is_dir() and
                                      (entry / '__init__.py').exists()):
            import_module(f'charms.layer.{name}')


class _CallableOptions(type(sys)):
    """Module type that also accepts the old ``options(section)`` call."""

    def __call__(self, section=None, layer_file=None):
        return self.get(section=section, layer_file=layer_file)


def patch_options_interface():
    from charms.layer import options
    options.__class__ = _CallableOptions


patch_options_interface()
