"""Layer options of the built charm (test-only layer:basic stand-in).

``get(section=None, option=None, layer_file=None)``: with no section, the
whole ``options:`` mapping; with a section, that layer's options (empty dict
when absent); with an option too, that value (``None`` when absent).
"""
import os
from pathlib import Path


def _charm_dir():
    return os.environ.get('JUJU_CHARM_DIR') or os.environ.get('CHARM_DIR') \
        or os.getcwd()


def _parse_layer_yaml(path):
    import yaml  # imported lazily: not needed before bootstrap
    with open(path) as fp:
        return yaml.safe_load(fp) or {}


def get(section=None, option=None, layer_file=None):
    if option and not section:
        raise ValueError('option requires section')
    layer_file = Path(layer_file or Path(_charm_dir()) / 'layer.yaml')
    if not layer_file.exists():
        return None if option else {}
    options = _parse_layer_yaml(layer_file).get('options') or {}
    if section is None:
        return options
    section_options = options.get(section) or {}
    if option is None:
        return section_options
    return section_options.get(option)
